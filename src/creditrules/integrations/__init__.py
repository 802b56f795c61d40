"""Optional integrations: pandas DataFrames (``pip install creditrules[pandas]``) and Dask
(``pip install creditrules[dask]``). Each module imports its library when it is imported,
so ``import creditrules`` never needs them."""
