# syntax=docker/dockerfile:1
# node:24-slim (Debian bookworm, Node 24 LTS), pinned by the digest of its multi-platform index as
# docker-library/repo-info lists it (repos/node/remote/24-slim.md, Node 24.19.0): a tag moves, a
# digest does not. Renovate's Dockerfile manager proposes the next digest; both stages use one.
FROM node:24-slim@sha256:cd84903a12dbd26b46f1f3b8144a2568c41c5d37ddd0c7a80a34c7a19786b35f AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: bcrypt ships its native prebuilds, and "prepare" (the build) needs src/,
# which is copied after, so that a change of code does not reinstall the dependencies.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim@sha256:cd84903a12dbd26b46f1f3b8144a2568c41c5d37ddd0c7a80a34c7a19786b35f AS runtime
ENV NODE_ENV=production PORT=4000 HOST=0.0.0.0 DATA_DIR=/app/data
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY drizzle ./drizzle
COPY schema ./schema
RUN mkdir -p /app/data && chown node:node /app/data
# The embedded database (ALLOW_EMBEDDED_DATABASE=true) and nothing else lives here: declared a
# volume, so that replacing the container does not lose it. With DATABASE_URL it stays empty.
VOLUME /app/data
USER node
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Operator commands run the same compiled code: docker run --rm IMAGE node dist/src/... (docs/operations.md)
CMD ["node", "dist/src/main.js"]
