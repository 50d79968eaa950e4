"The risk layer between a policy and its orders. Importing the package registers every named rule with the manager."
from . import rules  # noqa: F401  (each rule class registers itself under its name; RiskManager finds rules by name)
