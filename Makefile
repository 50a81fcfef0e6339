# pg_tfm: transformer models inside PostgreSQL (PGXS build)
# the tokenizer layer (src/text): pure-C cores (also linked by the unit tests and fuzz targets) and
# the server side (JSON readers, the interface of text/tokenizer.h, tfm_tokens)
TEXT_CORE = src/text/wordpiece.c src/text/wpvocab.c src/text/bertnorm.c src/text/bpe.c src/text/bytelevel.c src/text/merges.c src/text/added.c src/text/roberta.c \
            src/text/unigram.c src/text/uniencode.c src/text/precompiled.c src/text/unipieces.c
TEXT_OBJS = $(TEXT_CORE:.c=.o) src/text/wpjson.o src/text/bpejson.o src/text/robjson.o src/text/unijson.o \
            src/text/vocabtxt.o src/text/tokens.o src/text/tokenizer.o src/text/pair.o src/text/tokjson.o
EXTENSION = pg_tfm
MODULE_big = pg_tfm
DATA = $(wildcard sql/pg_tfm--*.sql)
OBJS = src/pg_tfm.o src/acl.o src/jsonutil.o src/safetensors.o src/stcheck.o src/model.o src/cachefile.o \
       src/cache.o src/cacheinfo.o src/infer.o src/metrics.o src/fairness.o src/rows.o src/head.o src/mlp.o src/mlptrain.o src/mlpfuncs.o src/mlpmodel.o src/train.o src/trainpair.o src/progress.o src/trainsave.o src/trainfuncs.o src/evaluate.o src/gradcheck.o src/optim.o src/import.o src/funcs.o src/flag.o src/catalog.o src/model/arch.o src/blas.o src/bert.o \
       src/gpt2.o src/gpt2model.o src/generate.o src/stconfig.o src/seqhead.o src/rerank.o src/prefix.o src/quantize.o \
       $(TEXT_OBJS) \
       src/cpuinfo.o src/kernels/formats.o src/kernels/matmul.o src/kernels/pointwise.o src/kernels/attention.o \
       src/kernels/cpu.o src/kernels/packed_avx2.o src/kernels/packed_avx512.o \
       src/kernels/qgemm.o src/kernels/qgemm_avx2.o src/kernels/qgemm_avx512.o \
       src/kernels/bgemm.o src/kernels/bgemm_avx2.o src/kernels/bgemm_avx512.o

PG_CPPFLAGS = -I$(srcdir)/src -I/usr/include/x86_64-linux-gnu
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -O2
# OpenBLAS is not linked: src/blas.c opens it on first use (see there)
SHLIB_LINK = -lutf8proc -lm

REGRESS = import surface blas golden cpu_features precision errors encoding encoding_gpt2 train_step shapes stconfig seqcls heads families unigram metrics gpt2 privileges limits checks sqlstates options prefixes tokens tokjson fairness flag probe precision_file pairtrain train
REGRESS_OPTS = --inputdir=. --load-extension=pg_tfm

PG_CONFIG ?= pg_config
# no LLVM bitcode: pg_tfm functions are not JIT-inlined and clang need not be installed
override with_llvm = no
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when any header changes
$(OBJS): $(wildcard src/*.h src/text/*.h src/kernels/*.h src/model/*.h)

# every kernel file (src/kernels/); the unit tests link them whole
KERNELS = src/kernels/formats.c src/kernels/matmul.c src/kernels/pointwise.c src/kernels/attention.c src/kernels/cpu.c src/kernels/packed_avx2.c src/kernels/packed_avx512.c src/kernels/qgemm.c \
          src/kernels/qgemm_avx2.c src/kernels/qgemm_avx512.c src/kernels/bgemm.c src/kernels/bgemm_avx2.c \
          src/kernels/bgemm_avx512.c
# the naive reference kernels the unit tests compare with: never in the module
OPS_REF = test/ref/ops_ref.c
KERNEL_H = src/ops.h $(wildcard src/kernels/*.h) test/ref/ops_ref.h
UNIT_CFLAGS = -O2 -Wall -Wextra -Isrc -Itest/ref -I/usr/include/x86_64-linux-gnu
UNIT = test/unit/test_ops test/unit/test_qgemm test/unit/test_bgemm test/unit/test_grad test/unit/test_head test/unit/test_tokenizer test/unit/test_bpe test/unit/test_gpt2 \
       test/unit/test_unigram test/unit/test_mlp
unit: $(UNIT)
	@fail=0; for t in $(UNIT); do out=$$(./$$t) || fail=1; echo "$$t: $$(echo "$$out" | tail -1)"; done; exit $$fail

test/unit/test_ops: test/unit/test_ops.c test/unit/check.h $(KERNELS) $(OPS_REF) src/blas.c src/bert.c $(KERNEL_H) src/bert.h src/blas.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_ops.c $(KERNELS) $(OPS_REF) src/blas.c src/bert.c -lm

test/unit/test_qgemm: test/unit/test_qgemm.c test/unit/check.h $(KERNELS) $(OPS_REF) src/blas.c $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_qgemm.c $(KERNELS) $(OPS_REF) src/blas.c -lm

test/unit/test_bgemm: test/unit/test_bgemm.c test/unit/check.h $(KERNELS) $(OPS_REF) src/blas.c $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_bgemm.c $(KERNELS) $(OPS_REF) src/blas.c -lm

test/unit/test_grad: test/unit/test_grad.c test/unit/check.h $(KERNELS) $(OPS_REF) src/blas.c src/bert.c src/optim.c $(KERNEL_H) src/bert.h src/optim.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_grad.c $(KERNELS) $(OPS_REF) src/blas.c src/bert.c src/optim.c -lm

test/unit/test_head: test/unit/test_head.c test/unit/check.h src/head.c $(KERNELS) src/blas.c src/head.h $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_head.c src/head.c $(KERNELS) src/blas.c -lm

test/unit/test_tokenizer: test/unit/test_tokenizer.c $(TEXT_CORE) $(wildcard src/text/*.h)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_tokenizer.c $(TEXT_CORE) -lutf8proc -lm

test/unit/test_bpe: test/unit/test_bpe.c $(TEXT_CORE) $(wildcard src/text/*.h)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_bpe.c $(TEXT_CORE) -lutf8proc -lm

test/unit/test_gpt2: test/unit/test_gpt2.c src/gpt2.c $(KERNELS) src/blas.c src/gpt2.h $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_gpt2.c src/gpt2.c $(KERNELS) src/blas.c -lm

test/unit/test_unigram: test/unit/test_unigram.c $(TEXT_CORE) $(wildcard src/text/*.h)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_unigram.c $(TEXT_CORE) -lutf8proc -lm

test/unit/test_mlp: test/unit/test_mlp.c test/unit/check.h src/mlp.c $(KERNELS) src/blas.c src/optim.c src/mlp.h $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_mlp.c src/mlp.c $(KERNELS) src/blas.c src/optim.c -lm

.PHONY: unit
EXTRA_CLEAN = $(UNIT)
