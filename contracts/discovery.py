"""The boundary between WarehouseWorkflow and the discovery activities
(`activities/discovery/`): one activity per subscription kind, taking a
`workflows.messages.DiscoveryRequest`; a configuration error is a non-retryable
ApplicationError of type DISCOVERY_ERROR."""

#: subscription kind -> activity name
ACTIVITY_NAMES: dict[str, str] = {"image": "discover_images", "git": "discover_git", "chart": "discover_charts"}

DISCOVERY_ERROR = "DiscoveryError"
