"""The custom search attributes Gantry upserts, registered once per server.

An attribute that is not registered makes a workflow task fail forever
(temporalio/temporal#6647), so `gantry dev`, the test fixtures and operators
register exactly this list (`gantry dev` does it for you; `gantry worker` checks it).
"""

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

PROJECT = SearchAttributeKey.for_keyword("GantryProject")
STAGE = SearchAttributeKey.for_keyword("GantryStage")
FREIGHT = SearchAttributeKey.for_keyword("GantryFreight")
PHASE = SearchAttributeKey.for_keyword("GantryPhase")
#: a Freight's origin Warehouse, its alias and when it was discovered (FreightWorkflow)
WAREHOUSE = SearchAttributeKey.for_keyword("GantryWarehouse")
ALIAS = SearchAttributeKey.for_keyword("GantryFreightAlias")
DISCOVERED_AT = SearchAttributeKey.for_datetime("GantryDiscoveredAt")

ALL = [PROJECT, STAGE, FREIGHT, PHASE, WAREHOUSE, ALIAS, DISCOVERED_AT]

#: how `temporal server start-dev --search-attribute NAME=TYPE` spells each type
CLI_TYPE = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}
