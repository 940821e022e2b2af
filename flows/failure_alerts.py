"""A Prefect automation that posts to a webhook when a sonorize flow run fails or crashes.

    python -m flows.failure_alerts --webhook-url https://hooks.slack.com/services/T000/B000/XXXX

against the server at ``PREFECT_API_URL``. It saves a webhook notification block
(``sonorize-alerts``: a JSON ``{"text": "<subject>\\n<body>"}`` POST, the form Slack,
Mattermost and Rocket.Chat incoming webhooks take) and the automation ``sonorize-run-failed``,
replacing earlier ones of those names. A batch in which videos failed ends Failed with
"N of M videos failed: names", which is what the notification says.
"""

from __future__ import annotations

import argparse
from uuid import UUID

ALERT_NAME = "sonorize-run-failed"
BLOCK_NAME = "sonorize-alerts"
WATCHED_FLOWS = ("sonorize", "watch-bucket", "preprocess", "benchmark", "train-video2rms", "train-controlnet")
ALERT_STATES = ("Failed", "Crashed")
SUBJECT = "sonorize: {{ flow.name }}/{{ flow_run.name }} {{ flow_run.state.name }}"
BODY = "{{ flow_run.state.message }}\nflow run {{ flow_run.id }}"


def create_failure_alert(webhook_url: str, flows: tuple[str, ...] = WATCHED_FLOWS) -> UUID:
    """Save the webhook block and (re)create the automation; the automation's id.

    Parameters
    ----------
    webhook_url : where the notification is POSTed.
    flows : flow names whose failed or crashed runs notify.
    """
    from prefect.automations import Automation, EventTrigger, Posture, SendNotification
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client

    block = CustomWebhookNotificationBlock(name=BLOCK_NAME, url=webhook_url,
                                           json_data={"text": "{{subject}}\n{{body}}"})
    block_id = block.save(BLOCK_NAME, overwrite=True)
    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(ALERT_NAME):
            client.delete_automation(old.id)
    automation = Automation(
        name=ALERT_NAME,
        description="A sonorize flow run failed or crashed (a batch with failed videos ends Failed).",
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{state}" for state in ALERT_STATES},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": list(flows)},
            posture=Posture.Reactive, threshold=1, within=0),
        actions=[SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)],
    ).create()
    return automation.id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.failure_alerts", description=__doc__.split("\n")[0])
    parser.add_argument("--webhook-url", required=True, help="URL the notification is POSTed to (JSON {text}).")
    args = parser.parse_args(argv)
    automation_id = create_failure_alert(args.webhook_url)
    print(f"automation {ALERT_NAME} ({automation_id}): failed or crashed runs of "
          f"{', '.join(WATCHED_FLOWS)} post to the block {BLOCK_NAME}")


if __name__ == "__main__":
    main()
