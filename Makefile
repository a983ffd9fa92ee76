# The two commands a newcomer needs (see README): `make run` and `make test`.
.PHONY: run test bench

run:
	@bash .ci/bootstrap
	bash .ci/uv run --frozen poolbuy serve --demo

test:
	@bash .ci/test

bench:
	@bash .ci/bootstrap
	bash .ci/uv run --frozen python -m bench.solve_stages
