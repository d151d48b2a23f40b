"""runsearch: a search index beside the platform's database that answers GET /v1/agents/runs fast."""
