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
# every kernel file (src/kernels/: compute kernels, the BLAS loader, losses and AdamW); the module and the
# unit tests link them whole
KERNELS = src/kernels/formats.c src/kernels/matmul.c src/kernels/pointwise.c src/kernels/attention.c src/kernels/cpu.c \
          src/kernels/packed_avx2.c src/kernels/packed_avx512.c src/kernels/qgemm.c src/kernels/qgemm_avx2.c \
          src/kernels/qgemm_avx512.c src/kernels/bgemm.c src/kernels/bgemm_avx2.c src/kernels/bgemm_avx512.c \
          src/kernels/blas.c src/kernels/optim.c
# the rooms of src/ (src/README.md): module entry and JSON reading at the top, then kernels, text, model,
# store, infer, eval, train and the SQL entry points
OBJS = src/pg_tfm.o src/jsonutil.o \
       $(KERNELS:.c=.o) \
       $(TEXT_OBJS) \
       src/model/arch.o src/model/encoder.o src/model/bert.o src/model/gpt2.o src/model/gpt2model.o src/model/head.o \
       src/model/seqhead.o src/model/mlp.o src/model/mlpmodel.o src/model/safetensors.o src/model/stcheck.o \
       src/model/torchzip.o src/model/unpickle.o \
       src/model/prefix.o \
       src/store/catalog.o src/store/acl.o src/store/cache.o src/store/cachefile.o src/store/cacheinfo.o \
       src/store/import.o src/store/stconfig.o \
       src/infer/infer.o src/infer/generate.o \
       src/eval/rows.o src/eval/metrics.o src/eval/fairness.o \
       src/train/train.o src/train/trainpair.o src/train/trainsave.o src/train/progress.o src/train/gradcheck.o \
       src/train/mlptrain.o \
       src/sql/funcs.o src/sql/rerank.o src/sql/quantize.o src/sql/flag.o src/sql/cpuinfo.o src/sql/mlpfuncs.o \
       src/sql/evaluate.o src/sql/trainfuncs.o

PG_CPPFLAGS = -I$(srcdir)/src -I/usr/include/x86_64-linux-gnu
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -O2
# OpenBLAS is not linked: src/kernels/blas.c opens it on first use (see there)
SHLIB_LINK = -lutf8proc -lm

REGRESS = import surface blas golden cpu_features precision errors encoding encoding_gpt2 train_step shapes stconfig seqcls heads families unigram metrics gpt2 privileges limits checks sqlstates options prefixes tokens tokjson fairness flag probe precision_file pairtrain torchbin train
REGRESS_OPTS = --inputdir=. --load-extension=pg_tfm

PG_CONFIG ?= pg_config
# no LLVM bitcode: pg_tfm functions are not JIT-inlined and clang need not be installed
override with_llvm = no
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when any header changes
$(OBJS): $(wildcard src/*.h src/*/*.h)

# the naive reference kernels the unit tests compare with: never in the module
OPS_REF = test/ref/ops_ref.c
KERNEL_H = $(wildcard src/kernels/*.h) test/ref/ops_ref.h
UNIT_CFLAGS = -O2 -Wall -Wextra -Isrc -Itest/ref -I/usr/include/x86_64-linux-gnu
UNIT = test/unit/test_ops test/unit/test_qgemm test/unit/test_bgemm test/unit/test_grad test/unit/test_head test/unit/test_tokenizer test/unit/test_bpe test/unit/test_gpt2 \
       test/unit/test_unigram test/unit/test_mlp
unit: $(UNIT)
	@fail=0; for t in $(UNIT); do out=$$(./$$t) || fail=1; echo "$$t: $$(echo "$$out" | tail -1)"; done; exit $$fail

test/unit/test_ops: test/unit/test_ops.c test/unit/check.h $(KERNELS) $(OPS_REF) src/model/bert.c $(KERNEL_H) src/model/bert.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_ops.c $(KERNELS) $(OPS_REF) src/model/bert.c -lm

test/unit/test_qgemm: test/unit/test_qgemm.c test/unit/check.h $(KERNELS) $(OPS_REF) $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_qgemm.c $(KERNELS) $(OPS_REF) -lm

test/unit/test_bgemm: test/unit/test_bgemm.c test/unit/check.h $(KERNELS) $(OPS_REF) $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_bgemm.c $(KERNELS) $(OPS_REF) -lm

test/unit/test_grad: test/unit/test_grad.c test/unit/check.h $(KERNELS) $(OPS_REF) src/model/bert.c $(KERNEL_H) src/model/bert.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_grad.c $(KERNELS) $(OPS_REF) src/model/bert.c -lm

test/unit/test_head: test/unit/test_head.c test/unit/check.h src/model/head.c $(KERNELS) src/model/head.h $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_head.c src/model/head.c $(KERNELS) -lm

test/unit/test_tokenizer: test/unit/test_tokenizer.c $(TEXT_CORE) $(wildcard src/text/*.h)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_tokenizer.c $(TEXT_CORE) -lutf8proc -lm

test/unit/test_bpe: test/unit/test_bpe.c $(TEXT_CORE) $(wildcard src/text/*.h)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_bpe.c $(TEXT_CORE) -lutf8proc -lm

test/unit/test_gpt2: test/unit/test_gpt2.c src/model/gpt2.c $(KERNELS) src/model/gpt2.h $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_gpt2.c src/model/gpt2.c $(KERNELS) -lm

test/unit/test_unigram: test/unit/test_unigram.c $(TEXT_CORE) $(wildcard src/text/*.h)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_unigram.c $(TEXT_CORE) -lutf8proc -lm

test/unit/test_mlp: test/unit/test_mlp.c test/unit/check.h src/model/mlp.c $(KERNELS) src/model/mlp.h $(KERNEL_H)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_mlp.c src/model/mlp.c $(KERNELS) -lm

.PHONY: unit
EXTRA_CLEAN = $(UNIT)
