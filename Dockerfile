# lakewriter in an empty image: the static binary and a CA bundle, nothing else.
#
#   scripts/bootstrap && scripts/zig build      # builds zig-out/bin/lakewriter
#   docker build -t lakewriter .
#   docker run --rm -v $PWD/lakewriter.toml:/etc/lakewriter/lakewriter.toml:ro \
#       -e R2_ACCOUNT_ID -e R2_ACCESS_KEY_ID -e R2_SECRET_ACCESS_KEY -e REDIS_URL \
#       --security-opt seccomp=<a profile that allows io_uring_setup/enter/register> \
#       lakewriter
#
# io_uring: Docker 25+ and containerd 2.0 block the io_uring syscalls in their default
# seccomp profiles; lakewriter then exits with status 2 and says so.

# The CA bundle comes from Debian's ca-certificates package.
FROM debian:bookworm-slim AS certs
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY zig-out/bin/lakewriter /lakewriter
ENV LAKEWRITER_CONFIG=/etc/lakewriter/lakewriter.toml
USER 65534:65534
ENTRYPOINT ["/lakewriter"]
CMD ["run"]
