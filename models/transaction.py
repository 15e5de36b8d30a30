"""Moved to `models.contracts.transaction` (see docs/contracts.md).

Only an alias, so code written against the old path keeps importing while it is updated;
new code imports from `models.contracts.transaction`.
"""

from models.contracts.transaction import InvalidTransaction as InvalidTransaction
from models.contracts.transaction import Transaction as Transaction
from models.contracts.transaction import encode_body as encode_body
from models.contracts.transaction import parse_timestamp as parse_timestamp
