"""Warning filters applied when pyglmm is imported.

PyTensor warns at import when its C backend finds no BLAS. pyglmm samples with nutpie's numba
backend (or :mod:`pyglmm.kernel`), where the warning does not apply, so it only confuses users.
"""

import warnings

warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
