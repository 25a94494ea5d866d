"""Use cases. Each public function is called inside one unit of work (one transaction)."""
