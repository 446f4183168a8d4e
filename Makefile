# Makefile for crm: PGXS build of the C module and of the install script.
#
#   make            build crm.so and crm--$(EXTVERSION).sql
#   make install    install into the server found by pg_config
#   make test       every suite (pg_regress, isolation, TAP) in a throwaway cluster
#   make demo       the book's case study in a throwaway cluster with the worker
#   make bench      benchmarks in test/bench, printed as ratio tables
#   make installcheck   pg_regress suites against a running server (PGXS meaning)

EXTENSION  = crm
EXTVERSION = 0.1.0

MODULE_big = crm
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))

# The install script is concatenated from each feature's SQL, features in this
# order, files within a feature in name order.
FEATURES   = core pipeline worker mail forecast sales reports marketing journeys security quality charts
SQL_PARTS  = $(foreach f,$(FEATURES),$(sort $(wildcard src/$(f)/*.sql)))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)
ISOLATION      = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config
CURL_CONFIG ?= curl-config

PG_CPPFLAGS = -Isrc $(shell $(CURL_CONFIG) --cflags 2>/dev/null)
# Warnings are errors in `make test`, `make demo`, `make bench` and CI (they pass
# WERROR=-Werror); a user's plain `make` only warns, so a newer compiler's new
# warning does not stop an installation.
WERROR     ?=
PG_CFLAGS   = -std=c11 -Wall -Wextra $(WERROR) -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK  = $(shell $(CURL_CONFIG) --libs 2>/dev/null || echo -lcurl) -lm

EXTRA_CLEAN = results regression.diffs regression.out output_iso tmp_check tmp_install test/results

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(SQL_PARTS) Makefile
	{ printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  for part in $(SQL_PARTS); do printf '\n-- ===== %s =====\n' "$$part"; cat "$$part"; done; } > $@

all: $(DATA_built)

.PHONY: test demo bench
test:
	bash test/run.sh

demo:
	bash demo/run.sh

bench:
	bash test/bench/run.sh
