# grpcstream: make (build), make test, make bench, make size, make soak, make fuzz, make install.
CC ?= cc
CFLAGS ?= -O2
WARN = -std=c99 -Wall -Wextra -Wpedantic -Werror
PREFIX ?= /usr/local
SRC = grpcstream.c json.c

all: grpcstream

grpcstream: $(SRC) grpcstream.h
	$(CC) $(WARN) $(CFLAGS) -o $@ $(SRC) $(LDFLAGS)

test: all
	./test.sh

bench: all grpcstream-static
	sh bench/bench.sh

# only the gRPC comparison of make bench (grpcstream vs gRPC C++ and grpc-go),
# on the static build: a dynamic glibc and its loader alone are ~1.4 MB of RSS
bench-grpc: grpcstream-static
	GS=./grpcstream-static sh bench/grpc_bench.sh

# ./grpcstream stays dynamic: the tests' LD_PRELOAD shims need a loader
grpcstream-static: $(SRC) grpcstream.h
	$(CC) $(WARN) $(CFLAGS) -static -o $@ $(SRC) $(LDFLAGS)

# the embedded builds: text, data, bss, sizeof(gs_node), stack and
# instructions a line on a Cortex-M4 under QEMU (tests/firmware.sh)
size:
	sh tests/firmware.sh size

fuzz:
	sh fuzz/run.sh build

soak: all
	sh bench/soak.sh

install: grpcstream
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 grpcstream $(DESTDIR)$(PREFIX)/bin/grpcstream

clean:
	rm -rf grpcstream grpcstream-static build bench/build

.PHONY: all test bench bench-grpc size soak fuzz install clean

soak-h2: all
	sh bench/soak-h2.sh

.PHONY: soak-h2
