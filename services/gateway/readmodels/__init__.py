"""The gateway's read models, folded from the bus: runs (`runs`, `run_queries`, `run_view`), documents,
datasets, questions and monitors, all in the one `store.GatewayStore` beside the gateway's own tables;
`projection` feeds them every event."""
