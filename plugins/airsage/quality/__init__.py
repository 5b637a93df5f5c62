"""The quality gate: DQDL rulesets (AWS Glue Data Quality's language, run by Deequ on AWS).

- :mod:`airsage.quality.base` is a gate's interface (``QualityGate``);
- :mod:`airsage.quality.dqdl` parses a ruleset into an AST (pure Python);
- :mod:`airsage.quality.compiler` turns the AST into one aggregate SELECT and judges the
  measured metrics (shared by every SQL engine);
- :mod:`airsage.quality.results` holds the Glue-shaped result types;
- :mod:`airsage.quality.history` persists metrics per day and flags anomalies;
- :mod:`airsage.quality.suggest` profiles a relation and proposes a ruleset;
- :mod:`airsage.quality.local` is the DuckDB gate of the local target.

Nothing here imports DuckDB at package level: the engine is loaded by ``local`` only.
"""
