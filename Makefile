# grpcstream: make (build), make test, make bench, make soak, make fuzz, make install.
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

bench: all
	sh bench/bench.sh

# only the gRPC comparison of make bench (grpcstream vs gRPC C++ and grpc-go)
bench-grpc: all
	sh bench/grpc_bench.sh

fuzz:
	sh fuzz/run.sh build

soak: all
	sh bench/soak.sh

install: grpcstream
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 grpcstream $(DESTDIR)$(PREFIX)/bin/grpcstream

clean:
	rm -rf grpcstream build bench/build

.PHONY: all test bench bench-grpc soak fuzz install clean

soak-h2: all
	sh bench/soak-h2.sh

.PHONY: soak-h2
