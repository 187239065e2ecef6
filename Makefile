# EVCharging: the two commands of the README, and a few more for developers.
#   make demo   build (only what the demo runs) and run the whole system on the
#               embedded default (ZeroMQ + SQLite); make demo-kafka: over Kafka
#   make test   install what is missing, build, run every test
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps configure build demo-build test test-sanitize test-unit demo demo-kafka install clean

# What scripts/demo.sh runs: the four programs, the plugins, the bus tools. Not
# the tests: `make demo` on a fresh clone builds in a fraction of `make build`.
DEMO_TARGETS = EV_Central EV_CP_E EV_CP_M EV_Driver evc_transport_zmq evc_transport_kafka \
               evc_store_sqlite evc_kafka_mock evc_zmq_proxy evc_web

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j $(JOBS)

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-sanitize: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DEVC_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure --timeout 900 -j $(JOBS)

demo-build: configure
	cmake --build $(BUILD) -j $(JOBS) --target $(DEMO_TARGETS)

demo: demo-build
	@BUILD=$(BUILD) bash scripts/demo.sh zmq

demo-kafka: demo-build
	@BUILD=$(BUILD) bash scripts/demo.sh kafka

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

# The randomised crash test (issue 10), long: SOAK_RUNS runs per bus of
# SOAK_KILLS kills each, every run on a fresh seed (printed; a failed run is
# replayed with the EVC_CHAOS_* line it prints). Goes on after a failure and
# fails at the end if any run did. docs/OPERATIONS.md "Soak".
SOAK_RUNS  ?= 3
SOAK_KILLS ?= 40
SOAK_BUSES ?= zmq kafka
.PHONY: soak
soak: build
	@cd $(BUILD) && failed=0; \
	for bus in $(SOAK_BUSES); do \
	  for run in $$(seq 1 $(SOAK_RUNS)); do \
	    echo "soak: $$bus run $$run/$(SOAK_RUNS), $(SOAK_KILLS) kills"; \
	    EVC_CHAOS_KILLS=$(SOAK_KILLS) ./tests/integ_chaos_$$bus --verbose 2>&1 \
	      | tee soak-$$bus-$$run.log | grep -E '^chaos: (seed|FAIL|ledger|\[)|^\[(PASS|FAIL)' \
	      || true; \
	    grep -q '^\[PASS\]' soak-$$bus-$$run.log || { failed=$$((failed + 1)); \
	      echo "soak: $$bus run $$run FAILED (whole output: $(BUILD)/soak-$$bus-$$run.log)"; }; \
	  done; \
	done; \
	echo "soak: $$failed failed run(s)"; test $$failed -eq 0

# The scale ladder of docs/PERFORMANCE.md (issue 14): a Release build in
# build-release, one EV_Central per rung under tools/evc_loadgen, one table row
# per rung. BENCH_ARGS: e.g. "--quick", "--duration 60", "zmq:20000:20000:0".
BENCH_ARGS ?=
.PHONY: bench-scale
bench-scale:
	@bash scripts/bench-scale.sh --build build-release $(BENCH_ARGS)

# Debian packages (docs/OPERATIONS.md "Packages"): a Release build with the
# install prefix /usr in $(BUILD_PKG), without the tests (only what ships), then
# CPack: one .deb per component in $(BUILD_PKG)/. EVC_WEB follows CMAKE_ARGS
# (on by default: the web package needs npm).
BUILD_PKG ?= build-pkg
.PHONY: package
package: deps
	cmake -S . -B $(BUILD_PKG) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	      -DEVC_BUILD_TESTS=OFF -DEVC_MAN_PAGES=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_PKG) -j $(JOBS)
	cd $(BUILD_PKG) && cpack -G DEB
	@ls -1 $(BUILD_PKG)/*.deb
