"""s3front: a strict S3 front for moto, used by the integration tests.

It terminates HTTP/1.1 (and TLS with a test CA), checks every request the way S3
does (SigV4 recomputed with botocore, x-amz-content-sha256, Content-MD5, flexible
checksums, clock skew) or the way Cloudflare R2 does (no aws-chunked, no checksum
headers, no trailers, equal part sizes), injects faults on command, logs every
request, and forwards valid requests to moto_server. See docs/testing.md.

Modules: server (the front), auth (SigV4 and aws-chunked), checksums (body
digests), state (settings, faults, request log), control (client, instances),
certs (openssl test CA), __main__ (command line)."""
