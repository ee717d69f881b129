"""The job interface: capabilities name jobs; the beat tick fans them out per tenant, once a day."""
