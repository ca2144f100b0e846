# Price standards, charges, the split and statements arrive with the billing issue.
