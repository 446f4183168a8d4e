# Makefile for crm: PGXS build of the C module and of the install script.
#
#   make            build crm.so and crm--$(EXTVERSION).sql
#   make install    install into the server found by pg_config
#   make test       every suite (pg_regress, isolation, TAP) in a throwaway cluster
#   make demo       the book's case study in a throwaway cluster with the worker
#   make bench      benchmarks in test/bench, printed as ratio tables
#   make installcheck   pg_regress suites against a running server (PGXS meaning)

EXTENSION  = crm
EXTVERSION = 1.0.0

# crm.control must install this version by default
ifneq ($(shell sed -n "s/^default_version = '\(.*\)'$$/\1/p" $(EXTENSION).control),$(EXTVERSION))
$(error $(EXTENSION).control: default_version is not $(EXTVERSION))
endif

MODULE_big = crm
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))

# The install script is concatenated from each feature's SQL, features in this
# order, files within a feature in name order.
FEATURES   = core pipeline worker mail forecast sales reports marketing journeys security quality charts ops
SQL_PARTS  = $(foreach f,$(FEATURES),$(sort $(wildcard src/$(f)/*.sql)))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
# Released install scripts, kept so that a database can be created at an old
# version (the upgrade test does) and upgraded, and released upgrade scripts.
DATA       = $(wildcard test/upgrade/$(EXTENSION)--*.sql src/upgrade/$(EXTENSION)--*--*.sql)
# Upgrade scripts to this version: one from each version FROM that has a
# folder src/upgrade/FROM--$(EXTVERSION) (hand-written SQL, see README
# "Upgrading"), built by src/upgrade/upgrade_script.pl from that folder, the
# released install script test/upgrade/crm--FROM.sql and the current sources.
UPGRADE_FROM    = $(patsubst src/upgrade/%--$(EXTVERSION),%,$(wildcard src/upgrade/*--$(EXTVERSION)))
UPGRADE_SCRIPTS = $(foreach v,$(UPGRADE_FROM),$(EXTENSION)--$(v)--$(EXTVERSION).sql)
DATA_built     += $(UPGRADE_SCRIPTS)

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)
ISOLATION      = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config
CURL_CONFIG ?= curl-config

# Version policy: the PostgreSQL majors crm is built and tested against (README
# "Supported PostgreSQL versions"; src/crm.h refuses the others too).
PG_SUPPORTED_MAJORS = 15
PG_MAJOR_FOUND := $(shell $(PG_CONFIG) --version 2>/dev/null | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
ifeq ($(filter $(PG_MAJOR_FOUND),$(PG_SUPPORTED_MAJORS)),)
$(error crm supports PostgreSQL $(PG_SUPPORTED_MAJORS); $(PG_CONFIG) is "$(shell $(PG_CONFIG) --version 2>/dev/null)". Point PG_CONFIG at a supported server's pg_config, e.g. make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config)
endif

PG_CPPFLAGS = -Isrc -DCRM_VERSION='"$(EXTVERSION)"' $(shell $(CURL_CONFIG) --cflags 2>/dev/null)
# Warnings are errors in `make test`, `make demo`, `make bench` and CI (they pass
# WERROR=-Werror); a user's plain `make` only warns, so a newer compiler's new
# warning does not stop an installation.
WERROR     ?=
PG_CFLAGS   = -std=c11 -Wall -Wextra $(WERROR) -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK  = $(shell $(CURL_CONFIG) --libs 2>/dev/null || echo -lcurl) -lm

EXTRA_CLEAN = results regression.diffs regression.out output_iso tmp_check tmp_install test/results dist

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) Makefile
	{ printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  for part in $(SQL_PARTS); do printf '\n-- ===== %s =====\n' "$$part"; cat "$$part"; done; } > $@

$(UPGRADE_SCRIPTS): $(EXTENSION)--%--$(EXTVERSION).sql: test/upgrade/$(EXTENSION)--%.sql src/upgrade/upgrade_script.pl \
		$(SQL_PARTS) $(wildcard src/upgrade/*/*.sql src/upgrade/*/*/*.sql) Makefile
	perl src/upgrade/upgrade_script.pl $(EXTENSION) $* $(EXTVERSION) $< src/upgrade/$*--$(EXTVERSION) $(SQL_PARTS) > $@.tmp
	mv $@.tmp $@

all: $(DATA_built)

.PHONY: test demo bench deb
test:
	bash test/run.sh

demo:
	bash demo/run.sh

bench:
	bash test/bench/run.sh

# A Debian package, postgresql-<major>-crm, built with pg_buildext (debian/).
deb:
	bash debian/build.sh
