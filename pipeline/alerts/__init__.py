"""The alerting engine: rule files, the alert state machine, notifications as Alert records.

Pure: no Faust, no I/O besides reading a rule file. The worker keeps the state mapping in a
changelogged table and calls ``RuleSet.evaluate`` per aggregate and ``RuleSet.tick`` on a
timer.
"""

from pipeline.alerts.defaults import default_rules, load_rules
from pipeline.alerts.engine import RuleSet
from pipeline.alerts.errors import RuleFileError
from pipeline.alerts.parse import parse_rules

__all__ = ["RuleFileError", "RuleSet", "default_rules", "load_rules", "parse_rules"]
