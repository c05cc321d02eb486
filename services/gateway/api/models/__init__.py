"""The gateway's request (`XCreate`) and response (`XPublic`) models, by resource."""
