# The Millrace image: the application, its libraries (PyTorch's CPU natives included) and the sample corpus.
# docker build -t ghcr.io/millrace/millrace:0.1.0 .
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY pom.xml .
COPY protocol protocol
COPY ui ui
COPY verticles verticles
RUN mvn -B -q -DskipTests package

FROM eclipse-temurin:17-jre
# jemalloc: libtorch's per-step CPU tensors fragment glibc malloc (RSS creeps up over long runs); jemalloc stays flat
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
ENV LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
    MALLOC_CONF=oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1,narenas:1 \
    TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1
WORKDIR /opt/millrace
COPY --from=build /src/verticles/target/millrace.jar /opt/millrace/millrace.jar
COPY --from=build /src/verticles/target/lib /opt/millrace/lib
COPY corpus /opt/millrace/corpus
ENV MILLRACE_HOME=/opt/millrace
# DJL unpacks libtorch here on first use; a writable, cacheable place
ENV DJL_CACHE_DIR=/opt/millrace/.djl
RUN mkdir -p /data /opt/millrace/.djl && chown -R 1000:1000 /data /opt/millrace/.djl
USER 1000
EXPOSE 8080 9404
ENTRYPOINT ["sh", "-c", "exec java $MILLRACE_JAVA_OPTS -Dai.djl.offline=true -cp '/opt/millrace/millrace.jar:/opt/millrace/lib/*' millrace.cli.Main \"$@\"", "millrace"]
CMD ["--help"]
