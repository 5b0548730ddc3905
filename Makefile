# Warden: see README.md. Everything a fresh machine needs is built from pinned Go modules
# into .cache/ (git-ignored), so a second run is fast.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin

include hack/tools.mk

.PHONY: all build test lint bench run generate
all: build

build:
	$(GO) build -o $(BIN)/warden ./cmd/warden
