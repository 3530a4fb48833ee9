// lakewriter's build (Zig 0.14.1, pinned in scripts/requirements.txt).
//
//   zig build                      zig-out/bin/lakewriter: static x86_64-linux-musl, ReleaseSafe
//   zig build -Doptimize=ReleaseFast   the same, for benchmarks
//   zig build test                 Criterion unit suite (native), plain and under ASan+UBSan
//   zig build fuzz                 libFuzzer harnesses (Debian's clang) into zig-out/fuzz
//   zig build bench                benchmarks into zig-out/bench
//
// Third-party C comes from deps/ (scripts/deps); only the files lakewriter needs are
// compiled, and the headers their configure scripts would generate are generated here.
const std = @import("std");

const version = "0.1.0";

// Flags for lakewriter's own code. Third-party code gets its own, quieter set.
const project_flags = [_][]const u8{
    "-std=c11",            "-D_GNU_SOURCE",
    "-Wall",               "-Wextra",
    "-Werror",             "-Wshadow",
    "-Wvla",               "-Wstrict-prototypes",
    "-Wmissing-prototypes", "-Wformat=2",
    "-Wimplicit-fallthrough", "-fno-strict-aliasing",
};

const sanitize_flags = [_][]const u8{
    "-fsanitize=address",       "-fsanitize=undefined",
    "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
    // The clang-14 runtime lacks the handler for this newer check.
    "-fno-sanitize=function",
};


pub fn build(b: *std.Build) void {
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "Optimization mode (default ReleaseSafe)") orelse .ReleaseSafe;
    const musl = b.resolveTargetQuery(.{ .cpu_arch = .x86_64, .os_tag = .linux, .abi = .musl });
    const native = b.resolveTargetQuery(.{});

    requireDeps(b);
    const info = buildInfo(b);

    // The product: one static musl executable.
    const musl_deps = depLibraries(b, musl);
    const native_deps = depLibraries(b, native);
    const core = coreLibrary(b, musl, optimize, info, musl_deps, false);
    const strip = b.option(bool, "strip", "Strip debug information from the binary (default true)") orelse true;
    const exe_mod = b.createModule(.{ .target = musl, .optimize = optimize, .link_libc = true, .strip = strip });
    exe_mod.addCSourceFiles(.{ .root = b.path("src"), .files = &.{"main.c"}, .flags = &project_flags });
    addProjectIncludes(b, exe_mod, core);
    if (b.option([]const u8, "embed-ca", "PEM CA bundle built into the binary (for FROM scratch images)")) |pem|
        exe_mod.addCSourceFile(.{ .file = embeddedCa(b, pem), .flags = &.{ "-std=c11", "-w" } });
    exe_mod.linkLibrary(core.lib);
    linkDeps(exe_mod, core.deps);
    const exe = b.addExecutable(.{ .name = "lakewriter", .root_module = exe_mod, .linkage = .static });
    b.installArtifact(exe);

    // Unit tests: native (Criterion is a system library), once plain, once sanitized.
    const test_step = b.step("test", "Run the unit tests, plain and under ASan+UBSan");
    const plain = unitTests(b, native, info, native_deps, false);
    const sanitized = unitTests(b, native, info, native_deps, true);
    test_step.dependOn(&plain.step);
    test_step.dependOn(&sanitized.step);
    const test_plain_step = b.step("test-plain", "Run the unit tests without sanitizers");
    test_plain_step.dependOn(&plain.step);

    // Fuzz harnesses, built by Debian's clang with libFuzzer.
    const fuzz_step = b.step("fuzz", "Build the libFuzzer harnesses into zig-out/fuzz");
    for (listFiles(b, "fuzz", ".c")) |file| fuzz_step.dependOn(fuzzHarness(b, file));

    // Test tools: small native programs the integration tests run (tests/tools/*.c).
    const tools_step = b.step("tools", "Build the test tools into zig-out/tools");
    const tools_core = coreLibrary(b, native, .ReleaseSafe, info, native_deps, false);
    for (listFiles(b, "tests/tools", ".c")) |file| {
        const m = b.createModule(.{ .target = native, .optimize = .ReleaseSafe, .link_libc = true });
        m.addCSourceFiles(.{ .root = b.path("tests/tools"), .files = &.{file}, .flags = &project_flags });
        addProjectIncludes(b, m, tools_core);
        m.linkLibrary(tools_core.lib);
        linkDeps(m, tools_core.deps);
        const e = b.addExecutable(.{ .name = file[0 .. file.len - 2], .root_module = m });
        tools_step.dependOn(&b.addInstallArtifact(e, .{ .dest_dir = .{ .override = .{ .custom = "tools" } } }).step);
    }

    // Benchmarks: every bench/*.c is one program, optimized for speed.
    const bench_step = b.step("bench", "Build the benchmarks into zig-out/bench");
    const bench_core = coreLibrary(b, native, .ReleaseFast, info, native_deps, false);
    for (listFiles(b, "bench", ".c")) |file| {
        const m = b.createModule(.{ .target = native, .optimize = .ReleaseFast, .link_libc = true });
        m.addCSourceFiles(.{ .root = b.path("bench"), .files = &.{file}, .flags = &project_flags });
        addProjectIncludes(b, m, bench_core);
        m.linkLibrary(bench_core.lib);
        linkDeps(m, bench_core.deps);
        const e = b.addExecutable(.{ .name = file[0 .. file.len - 2], .root_module = m });
        bench_step.dependOn(&b.addInstallArtifact(e, .{ .dest_dir = .{ .override = .{ .custom = "bench" } } }).step);
    }
}

// ---------------------------------------------------------------------------
// Project code

const Deps = struct { uring: *std.Build.Step.Compile, zstd: *std.Build.Step.Compile, bearssl: *std.Build.Step.Compile, hiredis: *std.Build.Step.Compile, uring_gen: std.Build.LazyPath };
const Core = struct { lib: *std.Build.Step.Compile, deps: Deps, info: *std.Build.Step.ConfigHeader };

// src/ (but main.c), parquet/ and s3/ as one static library.
fn coreLibrary(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode, info: *std.Build.Step.ConfigHeader, deps: Deps, sanitize: bool) Core {
    const m = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
    var flags = std.ArrayList([]const u8).init(b.allocator);
    flags.appendSlice(&project_flags) catch @panic("oom");
    if (sanitize) flags.appendSlice(&sanitize_flags) catch @panic("oom");
    const core = Core{ .lib = undefined, .deps = deps, .info = info };
    for ([_][]const u8{ "src", "parquet", "s3" }) |dir| {
        var files = std.ArrayList([]const u8).init(b.allocator);
        for (listFiles(b, dir, ".c")) |f| {
            if (std.mem.eql(u8, dir, "src") and std.mem.eql(u8, f, "main.c")) continue;
            files.append(f) catch @panic("oom");
        }
        if (files.items.len > 0) m.addCSourceFiles(.{ .root = b.path(dir), .files = files.items, .flags = flags.items });
    }
    addProjectIncludes(b, m, core);
    const lib = b.addLibrary(.{ .linkage = .static, .name = if (sanitize) "lwcore-san" else "lwcore", .root_module = m });
    return .{ .lib = lib, .deps = deps, .info = info };
}

fn addProjectIncludes(b: *std.Build, m: *std.Build.Module, core: Core) void {
    m.addIncludePath(b.path("."));
    m.addIncludePath(b.path("src"));
    m.addConfigHeader(core.info);
    m.addIncludePath(core.deps.uring_gen);
    m.addIncludePath(b.path("deps/liburing/src/include"));
    m.addIncludePath(b.path("deps/zstd/lib"));
    m.addIncludePath(b.path("deps/bearssl/inc"));
    m.addIncludePath(b.path("deps/hiredis"));
}

fn linkDeps(m: *std.Build.Module, d: Deps) void {
    m.linkLibrary(d.uring);
    m.linkLibrary(d.zstd);
    m.linkLibrary(d.bearssl);
    m.linkLibrary(d.hiredis);
}

fn unitTests(b: *std.Build, target: std.Build.ResolvedTarget, info: *std.Build.Step.ConfigHeader, deps: Deps, sanitize: bool) *std.Build.Step.Run {
    const core = coreLibrary(b, target, .Debug, info, deps, sanitize);
    const m = b.createModule(.{ .target = target, .optimize = .Debug, .link_libc = true });
    var flags = std.ArrayList([]const u8).init(b.allocator);
    flags.appendSlice(&project_flags) catch @panic("oom");
    if (sanitize) flags.appendSlice(&sanitize_flags) catch @panic("oom");
    var files = std.ArrayList([]const u8).init(b.allocator);
    for (listFiles(b, "tests", ".c")) |f| {
        if (std.mem.startsWith(u8, f, "test_")) files.append(f) catch @panic("oom");
    }
    m.addCSourceFiles(.{ .root = b.path("tests"), .files = files.items, .flags = flags.items });
    // The fuzz harnesses run over their seed corpora as unit tests.
    m.addCSourceFiles(.{ .root = b.path("fuzz"), .files = listFiles(b, "fuzz", ".c"), .flags = flags.items });
    m.addCMacro("LW_FUZZ_NO_MAIN", "1");
    addProjectIncludes(b, m, core);
    m.linkLibrary(core.lib);
    linkDeps(m, core.deps);
    m.linkSystemLibrary("criterion", .{});
    if (sanitize) {
        const rt = sanitizerRuntimeDir(b);
        for ([_][]const u8{ "libclang_rt.asan-x86_64.a", "libclang_rt.asan_cxx-x86_64.a", "libclang_rt.ubsan_standalone-x86_64.a" }) |a|
            m.addObjectFile(.{ .cwd_relative = b.pathJoin(&.{ rt, a }) });
        m.link_libcpp = true;
    }
    const exe = b.addExecutable(.{ .name = if (sanitize) "unit-asan" else "unit", .root_module = m });
    const run = b.addRunArtifact(exe);
    run.setCwd(b.path("."));
    run.setEnvironmentVariable("LW_SOURCE_DIR", b.build_root.path orelse ".");
    if (sanitize) {
        run.setEnvironmentVariable("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=1:strict_string_checks=1");
        run.setEnvironmentVariable("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
    }
    run.has_side_effects = true;
    return run;
}

// ASan/UBSan runtimes come from Debian's libclang-rt-14-dev: Zig does not ship them.
fn sanitizerRuntimeDir(b: *std.Build) []const u8 {
    const candidates = [_][]const u8{ "/usr/lib/llvm-16", "/usr/lib/llvm-15", "/usr/lib/llvm-14" };
    for (candidates) |llvm| {
        const clang_dir = b.pathJoin(&.{ llvm, "lib", "clang" });
        var d = std.fs.openDirAbsolute(clang_dir, .{ .iterate = true }) catch continue;
        defer d.close();
        var it = d.iterate();
        while (it.next() catch null) |e| {
            const dir = b.pathJoin(&.{ clang_dir, e.name, "lib", "linux" });
            const probe = b.pathJoin(&.{ dir, "libclang_rt.asan-x86_64.a" });
            std.fs.accessAbsolute(probe, .{}) catch continue;
            return dir;
        }
    }
    std.debug.print("error: the ASan runtime (libclang_rt.asan-x86_64.a) was not found; install libclang-rt-14-dev (scripts/bootstrap does)\n", .{});
    std.process.exit(1);
}

// One harness, built by Debian's clang with libFuzzer, ASan and UBSan. Its first
// line names the project sources it links: `// fuzz-sources: src/a.c src/b.c`.
fn fuzzHarness(b: *std.Build, file: []const u8) *std.Build.Step {
    const name = file[0 .. file.len - 2];
    const path = b.fmt("fuzz/{s}", .{file});
    const text = b.build_root.handle.readFileAlloc(b.allocator, path, 1 << 20) catch @panic("cannot read a fuzz harness");
    const first = text[0 .. std.mem.indexOfScalar(u8, text, '\n') orelse text.len];
    const tag = "// fuzz-sources:";
    if (!std.mem.startsWith(u8, first, tag)) std.debug.panic("{s}: the first line must be '{s} <files>'", .{ path, tag });
    const cmd = b.addSystemCommand(&.{ "clang", "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wno-unused-command-line-argument" });
    for ([_][]const u8{ ".", "src", "deps/hiredis", "deps/bearssl/inc", "deps/zstd/lib" }) |inc| cmd.addPrefixedDirectoryArg("-I", b.path(inc));
    cmd.addFileArg(b.path(path));
    var srcs = std.mem.tokenizeAny(u8, first[tag.len..], " \t\r");
    while (srcs.next()) |src| cmd.addFileArg(b.path(src));
    cmd.addArg("-o");
    const out = cmd.addOutputFileArg(name);
    const install = b.addInstallFileWithDir(out, .{ .custom = "fuzz" }, name);
    return &install.step;
}

// A C file defining lw_embedded_ca_pem[] from a PEM bundle (src/tls_anchors.h): the
// trust anchors used when s3.ca_file is not set, so an image needs no CA file.
fn embeddedCa(b: *std.Build, path: []const u8) std.Build.LazyPath {
    const pem = std.fs.cwd().readFileAlloc(b.allocator, path, 8 << 20) catch |e|
        std.debug.panic("-Dembed-ca={s}: {s}", .{ path, @errorName(e) });
    if (pem.len == 0) std.debug.panic("-Dembed-ca={s}: empty file", .{path});
    var text = std.ArrayList(u8).init(b.allocator);
    const w = text.writer();
    w.writeAll("#include <stddef.h>\nconst unsigned char lw_embedded_ca_pem[] = {\n") catch @panic("oom");
    for (pem, 0..) |c, i| w.print("{d},{s}", .{ c, if (i % 24 == 23) "\n" else "" }) catch @panic("oom");
    w.writeAll("\n};\nconst size_t lw_embedded_ca_pem_size = sizeof lw_embedded_ca_pem;\n") catch @panic("oom");
    return b.addWriteFiles().add("embedded_ca.c", text.items);
}

// ---------------------------------------------------------------------------
// Build information for `lakewriter version`

fn buildInfo(b: *std.Build) *std.Build.Step.ConfigHeader {
    return b.addConfigHeader(.{ .style = .blank, .include_path = "build_info.h" }, .{
        .LW_VERSION = version,
        .LW_COMMIT = gitCommit(b),
        .LW_DEP_LIBURING = lockedVersion(b, "liburing"),
        .LW_DEP_ZSTD = lockedVersion(b, "libzstd"),
        .LW_DEP_BEARSSL = lockedVersion(b, "bearssl"),
        .LW_DEP_HIREDIS = lockedVersion(b, "hiredis"),
    });
}

fn gitCommit(b: *std.Build) []const u8 {
    const r = std.process.Child.run(.{
        .allocator = b.allocator,
        .argv = &.{ "git", "-C", b.build_root.path orelse ".", "rev-parse", "--short=12", "HEAD" },
    }) catch return "unknown";
    if (r.term != .Exited or r.term.Exited != 0) return "unknown";
    return std.mem.trim(u8, r.stdout, " \n\r\t");
}

// The Debian version of a source package, as pinned in scripts/deps.lock.
fn lockedVersion(b: *std.Build, pkg: []const u8) []const u8 {
    const text = b.build_root.handle.readFileAlloc(b.allocator, "scripts/deps.lock", 1 << 16) catch @panic("scripts/deps.lock is missing");
    var lines = std.mem.tokenizeScalar(u8, text, '\n');
    while (lines.next()) |line| {
        if (line.len == 0 or line[0] == '#') continue;
        var f = std.mem.tokenizeAny(u8, line, " \t");
        const name = f.next() orelse continue;
        const ver = f.next() orelse continue;
        if (std.mem.eql(u8, name, pkg)) return ver;
    }
    std.debug.panic("{s} is not in scripts/deps.lock", .{pkg});
}

// ---------------------------------------------------------------------------
// Third-party libraries from deps/

fn requireDeps(b: *std.Build) void {
    for ([_][]const u8{ "deps/liburing/.lakewriter-stamp", "deps/zstd/.lakewriter-stamp", "deps/bearssl/.lakewriter-stamp", "deps/hiredis/.lakewriter-stamp" }) |p| {
        b.build_root.handle.access(p, .{}) catch {
            std.debug.print("error: {s} is missing: run scripts/deps (or scripts/bootstrap) first\n", .{p});
            std.process.exit(1);
        };
    }
}

fn depLibraries(b: *std.Build, target: std.Build.ResolvedTarget) Deps {
    // Third-party code is always optimized and built without sanitizers: it is not
    // what the sanitized unit suite is testing, and zstd is slow unoptimized.
    const opt: std.builtin.OptimizeMode = .ReleaseFast;
    const quiet = [_][]const u8{ "-w", "-fno-sanitize=undefined" };

    // liburing 2.3: its configure writes compat.h; this is what it writes on any
    // kernel-headers set that has __kernel_rwf_t, __kernel_timespec and open_how.
    const gen = b.addWriteFiles();
    _ = gen.add("liburing/compat.h",
        \\/* SPDX-License-Identifier: MIT */
        \\/* Generated by lakewriter's build.zig (liburing's configure would write this). */
        \\#ifndef LIBURING_COMPAT_H
        \\#define LIBURING_COMPAT_H
        \\#include <linux/time_types.h>
        \\#include <linux/openat2.h>
        \\#endif
        \\
    );
    const uring_gen = gen.getDirectory();
    const um = b.createModule(.{ .target = target, .optimize = opt, .link_libc = true });
    um.addIncludePath(uring_gen);
    um.addIncludePath(b.path("deps/liburing/src/include"));
    um.addCSourceFiles(.{
        .root = b.path("deps/liburing/src"),
        .files = &.{ "setup.c", "queue.c", "register.c", "syscall.c" },
        .flags = &(quiet ++ [_][]const u8{ "-D_GNU_SOURCE", "-DLIBURING_INTERNAL", "-DCONFIG_HAVE_KERNEL_RWF_T", "-DCONFIG_HAVE_KERNEL_TIMESPEC", "-DCONFIG_HAVE_OPEN_HOW" }),
    });
    const uring = b.addLibrary(.{ .linkage = .static, .name = "uring", .root_module = um });

    // zstd 1.5.4: the single-threaded compressor only (common/ + compress/).
    const zm = b.createModule(.{ .target = target, .optimize = opt, .link_libc = true });
    zm.addIncludePath(b.path("deps/zstd/lib"));
    zm.addIncludePath(b.path("deps/zstd/lib/common"));
    const zflags = quiet ++ [_][]const u8{ "-DZSTD_MULTITHREAD=0", "-DZSTD_LEGACY_SUPPORT=0", "-DZSTD_DISABLE_ASM", "-DXXH_NAMESPACE=ZSTD_" };
    zm.addCSourceFiles(.{ .root = b.path("deps/zstd/lib/common"), .files = &.{ "debug.c", "entropy_common.c", "error_private.c", "fse_decompress.c", "pool.c", "threading.c", "xxhash.c", "zstd_common.c" }, .flags = &zflags });
    zm.addCSourceFiles(.{ .root = b.path("deps/zstd/lib/compress"), .files = listFiles(b, "deps/zstd/lib/compress", ".c"), .flags = &zflags });
    const zstd = b.addLibrary(.{ .linkage = .static, .name = "zstd", .root_module = zm });

    // BearSSL 0.6: its library sources; the linker keeps only what is referenced.
    // Entropy: lakewriter injects getrandom() bytes itself (no /dev/urandom in a
    // scratch image, and BearSSL's getentropy detection is glibc-only).
    const bm = b.createModule(.{ .target = target, .optimize = opt, .link_libc = true });
    bm.addIncludePath(b.path("deps/bearssl/inc"));
    bm.addIncludePath(b.path("deps/bearssl/src"));
    bm.addCSourceFiles(.{ .root = b.path("deps/bearssl/src"), .files = walkFiles(b, "deps/bearssl/src", ".c"), .flags = &(quiet ++ [_][]const u8{ "-DBR_USE_URANDOM=0", "-DBR_USE_GETENTROPY=0", "-DBR_USE_UNIX_TIME=1" }) });
    const bearssl = b.addLibrary(.{ .linkage = .static, .name = "bearssl", .root_module = bm });

    // hiredis 0.14.1: only the RESP reader (read.c) and its string type (sds.c).
    const hm = b.createModule(.{ .target = target, .optimize = opt, .link_libc = true });
    hm.addIncludePath(b.path("deps/hiredis"));
    hm.addCSourceFiles(.{ .root = b.path("deps/hiredis"), .files = &.{ "read.c", "sds.c" }, .flags = &quiet });
    const hiredis = b.addLibrary(.{ .linkage = .static, .name = "hiredis", .root_module = hm });

    return .{ .uring = uring, .zstd = zstd, .bearssl = bearssl, .hiredis = hiredis, .uring_gen = uring_gen };
}

// ---------------------------------------------------------------------------
// Helpers

// The files directly in `dir` ending in `ext`, sorted (empty if dir is missing).
fn listFiles(b: *std.Build, dir: []const u8, ext: []const u8) []const []const u8 {
    var list = std.ArrayList([]const u8).init(b.allocator);
    var d = b.build_root.handle.openDir(dir, .{ .iterate = true }) catch return list.items;
    defer d.close();
    var it = d.iterate();
    while (it.next() catch null) |e| {
        if (e.kind == .file and std.mem.endsWith(u8, e.name, ext)) list.append(b.dupe(e.name)) catch @panic("oom");
    }
    std.mem.sort([]const u8, list.items, {}, lessThan);
    return list.items;
}

// The files under `dir` (recursively) ending in `ext`, as paths relative to it, sorted.
fn walkFiles(b: *std.Build, dir: []const u8, ext: []const u8) []const []const u8 {
    var list = std.ArrayList([]const u8).init(b.allocator);
    var d = b.build_root.handle.openDir(dir, .{ .iterate = true }) catch @panic("missing directory");
    defer d.close();
    var w = d.walk(b.allocator) catch @panic("oom");
    defer w.deinit();
    while (w.next() catch null) |e| {
        if (e.kind == .file and std.mem.endsWith(u8, e.path, ext)) list.append(b.dupe(e.path)) catch @panic("oom");
    }
    std.mem.sort([]const u8, list.items, {}, lessThan);
    return list.items;
}

fn lessThan(_: void, a: []const u8, c: []const u8) bool {
    return std.mem.lessThan(u8, a, c);
}
