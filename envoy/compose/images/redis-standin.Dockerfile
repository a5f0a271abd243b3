# TEST STAND-IN for the official redis image, for machines that cannot pull images: Debian's
# redis-server binary, run as an unprivileged user. `build-images.sh --stand-ins` tags it with the
# name docker-compose.yaml uses, inside the test's private Docker daemon only.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY redis-server /usr/local/bin/redis-server
USER 999:999
CMD ["redis-server", "--protected-mode", "no"]
