# Pushdeck: `make run` starts the console, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# Tests run against the real PostgreSQL and Redis of the machine.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
# The concurrency slots are also tested with RabbitMQ (installed and started below when missing).
TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672//

.PHONY: run test lint venv

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	DEBUG=$${DEBUG:-true} OUTBOUND_ALLOWED_NETWORKS=$${OUTBOUND_ALLOWED_NETWORKS-127.0.0.0/8,::1/128} $(PY) manage.py up

test: $(VENV)/.installed
	@command -v chromium >/dev/null && command -v xgettext >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium gettext >/dev/null; }
	@command -v rabbitmq-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null; }
	@(echo > /dev/tcp/127.0.0.1/5672) 2>/dev/null || { (service rabbitmq-server start || rabbitmq-server -detached) >/dev/null 2>&1; \
	  for i in $$(seq 90); do (echo > /dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done; }
	$(VENV)/bin/ruff check .
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) TEST_AMQP_URL=$(TEST_AMQP_URL) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
