"""Settings an operator gives a deployed flow without editing files: Prefect Variables.

A parameter set at deploy time (``prefect deploy --param NAME=VALUE``) or for one run
(``prefect deployment run ... -p NAME=VALUE``) wins. A parameter left null reads its Prefect
Variable (``prefect variable set VARIABLE VALUE --overwrite``) at every run, so changing it
needs no redeploy. A required setting found nowhere is one line saying how to set it.
"""

from __future__ import annotations

from data_catalog.errors import SonorizeInputError

# parameter -> Prefect Variable, per flow
WATCHER_VARIABLES = {"input_url": "sonorize_input_url", "output_url": "sonorize_output_url"}
PREPROCESS_VARIABLES = {"dataset": "sonorize_preprocess_dataset", "root": "sonorize_preprocess_root"}


class SettingMissing(SonorizeInputError):
    """A deployment parameter that is neither given nor set as a Prefect Variable."""


def setting(value: str | None, parameter: str, variables: dict[str, str], *, flow: str, example: str,
            required: bool = True) -> str | None:
    """``value`` when given, else the Prefect Variable of ``parameter`` (None when optional and unset).

    Parameters
    ----------
    value : the flow parameter (None or blank: not given).
    parameter : its name; ``variables[parameter]`` names its Prefect Variable.
    flow, example : for the error message (the deployment, a value to show).
    required : raise :class:`SettingMissing` when neither is set.
    """
    if value is not None and str(value).strip():
        return str(value).strip()
    from prefect.variables import Variable

    variable = variables[parameter]
    found = Variable.get(variable, default=None)
    if found is not None and str(found).strip():
        return str(found).strip()
    if not required:
        return None
    raise SettingMissing(None, f"{flow}: {parameter} is not set: run `prefect variable set {variable} {example}` "
                               f"(read at every run) or deploy with `--param {parameter}={example}`")
