# The demo app (`demo --listen ADDR`) on a base that holds only the shared libraries it needs.
# Context: a folder with the `demo` binary (envoy/compose/build-images.sh prepares it).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY demo /usr/local/bin/demo
USER 65534:65534
CMD ["demo", "--listen", "0.0.0.0:8080"]
