"""The lowest stage: exact money and shares, dates, clause numbers, plain wording of
values, and safe reading of files. It imports nothing else of creditrules but
:mod:`creditrules.errors`."""
