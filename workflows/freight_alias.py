"""FreightAliasWorkflow: a claim on one alias in one project (id `freight-alias/<project>/<alias>`).

Aliases are unique in a project (Kargo keeps them in a label and refuses a duplicate). With
Freight as workflows of their own there is no one map of aliases to check; instead an alias
is claimed by starting this workflow: the server refuses a second running workflow with the
same id, so two claims of one alias cannot both win, whatever the race. The claim runs,
idle, while its Freight has the alias; `release` (from the Freight's holder of the claim:
the store, when the alias changes or the Freight is collected) ends it, and the alias is
free again.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow


class AliasClaim(BaseModel):
    project: str
    alias: str
    freight: str


@workflow.defn(name="FreightAliasWorkflow")
class FreightAliasWorkflow:
    @workflow.init
    def __init__(self, claim: AliasClaim) -> None:
        self._claim = claim
        self._released = False

    @workflow.run
    async def run(self, claim: AliasClaim) -> str:
        await workflow.wait_condition(lambda: self._released)
        return claim.freight

    @workflow.query(name="freight", description="The Freight holding this alias")
    def freight(self) -> str:
        return self._claim.freight

    @workflow.signal(name="release", description="The Freight named gives the alias up (others are ignored)")
    def release(self, freight: str) -> None:
        if freight == self._claim.freight:
            self._released = True
