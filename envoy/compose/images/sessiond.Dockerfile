# cookieless-sessiond (gRPC session service) on a base that holds only the shared libraries it needs.
# Context: a folder with the `cookieless-sessiond` binary (envoy/compose/build-images.sh prepares it).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY cookieless-sessiond /usr/local/bin/cookieless-sessiond
USER 65534:65534
CMD ["cookieless-sessiond", "--listen", "0.0.0.0:50051"]
