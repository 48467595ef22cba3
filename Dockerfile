# The standalone server as an image: built with the .NET SDK, run on the ASP.NET Core runtime with python3 and node
# for the Python and Node.js runtimes.
#
#   docker build -t crablambda/server .
#   docker run -p 127.0.0.1:8080:8080 -v crablambda-data:/data crablambda/server
#
# SDK_IMAGE and RUNTIME_IMAGE choose the base images, e.g. ones made without a registry by
# scripts/docker/build-server-base-images.sh. A runtime image that already has python3, node and setsid needs no
# network.
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

FROM ${SDK_IMAGE} AS build
WORKDIR /source

# The project files alone first, so that the restored packages stay cached while only code changes.
COPY Directory.Build.props Directory.Packages.props nuget.config .editorconfig ./
COPY src/CrabLambda.Core/CrabLambda.Core.csproj src/CrabLambda.Core/
COPY src/CrabLambda.Hosting/CrabLambda.Hosting.csproj src/CrabLambda.Hosting/
COPY src/CrabLambda.PostgreSql/CrabLambda.PostgreSql.csproj src/CrabLambda.PostgreSql/
COPY src/CrabLambda.Docker/CrabLambda.Docker.csproj src/CrabLambda.Docker/
COPY src/CrabLambda.Server/CrabLambda.Server.csproj src/CrabLambda.Server/
RUN dotnet restore src/CrabLambda.Server/CrabLambda.Server.csproj

COPY src/ src/
RUN dotnet publish src/CrabLambda.Server/CrabLambda.Server.csproj -c Release --no-restore -o /app \
    -p:UseAppHost=false

FROM ${RUNTIME_IMAGE}
USER root

# The process executor starts workers through setsid, and runs Python and Node.js workers with the image's own
# interpreters; what the base image lacks is installed.
RUN missing=""; \
    command -v setsid >/dev/null || missing="$missing util-linux"; \
    command -v python3 >/dev/null || missing="$missing python3"; \
    command -v node >/dev/null || missing="$missing nodejs"; \
    if [ -n "$missing" ]; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# 1654 is the app user of the official .NET images; the data folder is its own, so a fresh volume is too.
RUN mkdir -p /data && chown 1654:1654 /data
WORKDIR /app
COPY --from=build /app ./

ENV DATABASE_URL=sqlite:/data/crablambda.db \
    SERVER_HOST=0.0.0.0 \
    SERVER_PORT=8080 \
    ISOLATION=auto
VOLUME /data
EXPOSE 8080
USER 1654

HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' \
        + os.environ.get('SERVER_PORT', '8080') + '/health/ready', timeout=4)"]

ENTRYPOINT ["dotnet", "CrabLambda.Server.dll"]
