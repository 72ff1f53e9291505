"""``xenblocks cost``: what the platform costs on AWS per worker-month, line by line.

Two halves, kept apart so each can be checked:

- **Prices** (``PRICES``): AWS list prices, us-east-1, written down once with the date they
  were read. Nothing else in this module holds a dollar figure.
- **Request counts**, *measured*: a sample fleet runs in-process on moto through the real
  Lambda handlers (``functions.handlers.ingest.handler`` for every rig message, the job
  handlers on their schedules) with the deployment's heartbeat schedule. A meter on the
  DynamoDB client counts every request and prices it the way on-demand DynamoDB bills it
  (write units per started KiB of the larger item image, plus index writes; read units per
  started 4 KiB), the device publisher counts downlink messages, stdout counts log and
  metric bytes, and a clock counts the handlers' own CPU time (DynamoDB time excluded).

What cannot be measured in-process is an assumption with a flag (DynamoDB latency, how
much the dashboards are used, blocks per rig per day...). Fixed monthly costs (dashboard,
alarms, custom metrics, the secret, job runs with an empty fleet) are divided by
``--workers``.

What the deployment is (each function's memory and log level, the jobs' schedules, the
heartbeat stream, log retention, the alarms) is read from ``infra/`` (``infra.sizing``,
``infra.config.deployed_config``), never copied here.

- ``prices``: the dollar figures; ``meter``: DynamoDB's billing rules and the meter;
  ``sample``: the measured run; ``bill``: the monthly lines; ``command``: the CLI.
"""
