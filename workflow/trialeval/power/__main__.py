"""python -m trialeval.power: the speed of the fast paths against the general engine."""

from trialeval.power.benchmark import benchmark, benchmark_cluster

benchmark()
benchmark_cluster()
