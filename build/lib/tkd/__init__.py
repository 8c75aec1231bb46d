"""tkd: a reproducibility harness for *Training Deep Neural Networks in Generations:
A More Tolerant Teacher Educates Better Students* (Yang, Xie, Qiao, Yuille; AAAI 2019).

Kept free of heavy imports: the Snakefile and the CLI's --help import this package.
"""
__version__ = "0.1.0"
