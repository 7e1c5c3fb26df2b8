# convnet: a plain Makefile. `make` builds build/libconvnet.a, build/libconvnet.so and
# bin/convnet; `make test` runs the test suite (float and double builds); `make asan`
# runs it under AddressSanitizer + UndefinedBehaviorSanitizer; `make demo` runs the
# main job; `make install PREFIX=...`; `make clean`.
#
# Switches (set on the command line, e.g. `make CC=clang OPENMP=0 BLAS=none`):
OPENMP ?= 1          # 1: OpenMP parallel loops (-fopenmp); 0: single-threaded
BLAS   ?= openblas   # openblas: GEMM through CBLAS; none: the portable blocked GEMM
ARCH   ?= -march=native
OPT    ?= -O2
BUILD  ?= build
PREFIX ?= /usr/local
SAN    ?= 0          # 1: build with ASan + UBSan (what `make asan` sets)

OPENMP := $(strip $(OPENMP))
BLAS   := $(strip $(BLAS))
SAN    := $(strip $(SAN))

CPPFLAGS_ALL = -Iinclude -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
CFLAGS_ALL   = -std=c11 -Wall -Wextra -Werror -g $(OPT) $(ARCH) -fPIC -MMD -MP
LDLIBS_ALL   = -ljansson -lz -lm -lpthread

ifeq ($(BLAS),openblas)
  CPPFLAGS_ALL += -DCN_USE_CBLAS $(shell pkg-config --cflags openblas 2>/dev/null)
  LDLIBS_ALL   += $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
else ifneq ($(BLAS),none)
  $(error BLAS must be openblas or none, not '$(BLAS)')
endif

ifeq ($(OPENMP),1)
  CFLAGS_ALL += -fopenmp
  LDFLAGS_OMP = -fopenmp
else ifneq ($(OPENMP),0)
  $(error OPENMP must be 1 or 0, not '$(OPENMP)')
endif

ifeq ($(SAN),1)
  CFLAGS_ALL += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
endif

STB_CFLAGS      = $(shell pkg-config --cflags stb 2>/dev/null || echo -I/usr/include/stb)
CRITERION_LIBS  = $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)
JANSSON_LIBS    = $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)

LIB_SRC  = $(sort $(wildcard src/*/*.c))
CLI_SRC  = $(sort $(wildcard cli/*.c))
TEST_SRC = $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT = $(sort $(filter-out $(TEST_SRC),$(wildcard tests/*.c)))
TEST_HEADERS = $(wildcard tests/*.h)
EXAMPLE_SRC = $(sort $(wildcard examples/*.c))
EXAMPLES = $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

OBJ32 = $(LIB_SRC:%.c=$(BUILD)/f32/%.o)
OBJ64 = $(LIB_SRC:%.c=$(BUILD)/f64/%.o)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/f32/%.o)
TESTS32 = $(TEST_SRC:tests/%.c=$(BUILD)/tests/f32/%)
TESTS64 = $(TEST_SRC:tests/%.c=$(BUILD)/tests/f64/%)

LIB_A   = $(BUILD)/libconvnet.a
LIB_SO  = $(BUILD)/libconvnet.so
LIB64_A = $(BUILD)/libconvnet_f64.a
ifeq ($(BUILD),build)
  CLI_BIN = bin/convnet
else
  CLI_BIN = $(BUILD)/bin/convnet
endif

LIBS = $(LDFLAGS_OMP) $(LDFLAGS_SAN) $(LDLIBS_ALL)
COMMA := ,

.PHONY: all lib cli examples examples-run tests test test-run asan demo install uninstall clean deps bench knn-bench
.DEFAULT_GOAL := all

all: $(LIB_A) $(LIB_SO) $(CLI_BIN) $(EXAMPLES)
lib: $(LIB_A) $(LIB_SO)
cli: $(CLI_BIN)
tests: $(TESTS32) $(TESTS64) $(CLI_BIN)

$(BUILD)/f32/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(STB_CFLAGS) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/f64/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(STB_CFLAGS) -DCN_DOUBLE $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/f32/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(LIB_A): $(OBJ32)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB64_A): $(OBJ64)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(OBJ32)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libconvnet.so.0 -o $@ $^ $(LIBS)

$(CLI_BIN): $(CLI_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(CLI_OBJ) $(LIB_A) $(JANSSON_LIBS) $(LIBS)

# examples/*.c: small programs on the public API, built with `make` and run by
# `make test`.
examples: $(EXAMPLES)

$(BUILD)/examples/%: examples/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $< $(LIB_A) $(LIBS)

examples-run: $(EXAMPLES)
	@for e in $(EXAMPLES); do $$e >/dev/null || { echo "example $$e failed" >&2; exit 1; }; done

# Each tests/test_*.c is one Criterion binary, built against the float library and
# again against the double library (-DCN_DOUBLE), where gradient checks are strict.
$(BUILD)/tests/f32/%: tests/%.c $(TEST_SUPPORT) $(TEST_HEADERS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(STB_CFLAGS) $(CFLAGS_ALL) -o $@ $< $(TEST_SUPPORT) $(LIB_A) \
	    $(CRITERION_LIBS) $(LIBS) $(JANSSON_LIBS)

$(BUILD)/tests/f64/%: tests/%.c $(TEST_SUPPORT) $(TEST_HEADERS) $(LIB64_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(STB_CFLAGS) -DCN_DOUBLE $(CFLAGS_ALL) -o $@ $< $(TEST_SUPPORT) \
	    $(LIB64_A) $(CRITERION_LIBS) $(LIBS) $(JANSSON_LIBS)

# Install what the build and the tests need (Debian packages) when any is missing.
deps:
	@scripts/setup.sh --check >/dev/null 2>&1 || scripts/setup.sh

test: deps
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory examples-run
	@$(MAKE) --no-print-directory test-run

test-run: tests
	@mkdir -p $(BUILD)/artifacts
	@CONVNET_BIN=$(abspath $(CLI_BIN)) CN_TEST_ARTIFACTS=$(abspath $(BUILD)/artifacts) \
	    tests/run.sh $(BUILD)/tests

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 OPT=-O1 test-run

demo: deps
	@$(MAKE) --no-print-directory all >&2
	@scripts/demo.sh $(CLI_BIN)

bench: deps
	@$(MAKE) --no-print-directory all >&2
	@BUILD=$(BUILD) bench/run.sh

knn-bench: deps
	@$(MAKE) --no-print-directory all >&2
	@bench/knn.sh
	@bench/loader.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/include/convnet $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/convnet.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/convnet/*.h $(DESTDIR)$(PREFIX)/include/convnet/
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libconvnet.so.0
	ln -sf libconvnet.so.0 $(DESTDIR)$(PREFIX)/lib/libconvnet.so
	install -m 755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define CN_VERSION "\(.*\)"/\1/p' include/convnet/core.h)|g' \
	    -e 's|@LIBS@|$(strip $(LDFLAGS_OMP) $(LDLIBS_ALL))|g' convnet.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/convnet.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/convnet $(DESTDIR)$(PREFIX)/include/convnet.h
	rm -f $(DESTDIR)$(PREFIX)/lib/libconvnet.a $(DESTDIR)$(PREFIX)/lib/libconvnet.so* \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/convnet.pc $(DESTDIR)$(PREFIX)/bin/convnet

clean:
	rm -rf build bin

# ---- fuzzing (clang's libFuzzer). Every tests/fuzz/fuzz_NAME.c is a target with its seed
# corpus in tests/fuzz/corpus_NAME/, built against the library sources (portable GEMM, no
# OpenMP) with ASan + UBSan. `make fuzz` runs each for FUZZ_SECONDS (60); `make fuzz-smoke`
# (run by `make test`) runs 2000 inputs of each and is skipped when clang is missing.
# New inputs go to build/fuzz, never into the seed corpora.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD    = build/fuzz
FUZZ_NAMES    = $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS     = $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJ      = $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_FLAGS    = -std=c11 -g -O1 -Iinclude -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
                $(STB_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
HAVE_FUZZ_CC := $(shell command -v $(FUZZ_CC) 2>/dev/null)

.PHONY: fuzz fuzz-smoke
.SECONDARY: $(FUZZ_OBJ)
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(subst fuzzer$(COMMA),fuzzer-no-link$(COMMA),$(FUZZ_FLAGS)) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	@echo "fuzz: building $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_OBJ) $(JANSSON_LIBS) -lz -lm -lpthread

fuzz: $(FUZZ_BINS)
	@for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus_$$n && \
	    $(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        $(FUZZ_BUILD)/corpus_$$n tests/fuzz/corpus_$$n || exit 1; \
	done

fuzz-smoke:
ifeq ($(HAVE_FUZZ_CC),)
	@echo "fuzz smoke: skipped ($(FUZZ_CC) not found)"
else
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@for n in $(FUZZ_NAMES); do \
	    rm -rf $(FUZZ_BUILD)/smoke_$$n && mkdir -p $(FUZZ_BUILD)/smoke_$$n && \
	    if $(FUZZ_BUILD)/fuzz_$$n -runs=2000 -seed=1 -max_len=65536 $(FUZZ_BUILD)/smoke_$$n \
	        tests/fuzz/corpus_$$n > $(FUZZ_BUILD)/smoke_$$n.log 2>&1; then \
	        echo "fuzz smoke: 2000 runs of fuzz_$$n passed"; \
	    else tail -n 40 $(FUZZ_BUILD)/smoke_$$n.log; exit 1; fi; \
	done
endif

-include $(OBJ32:.o=.d) $(OBJ64:.o=.d) $(CLI_OBJ:.o=.d)
