"""The custom search attributes Gantry upserts, registered once per server.

An attribute that is not registered makes a workflow task fail forever
(temporalio/temporal#6647), so `gantry dev`, the test fixtures and operators
register exactly this list (`gantry dev` does it for you).
"""

from temporalio.common import SearchAttributeKey

PROJECT = SearchAttributeKey.for_keyword("GantryProject")
STAGE = SearchAttributeKey.for_keyword("GantryStage")
FREIGHT = SearchAttributeKey.for_keyword("GantryFreight")
PHASE = SearchAttributeKey.for_keyword("GantryPhase")

ALL = [PROJECT, STAGE, FREIGHT, PHASE]
