import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EventOut, RuleOut } from "../api/types";
import type { Services } from "../app/services";
import { rule } from "../test/data";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";
import Alerts from "./Alerts";

const TOKEN = "123456:" + "B".repeat(35);

let services: Services;

function setup(routes: Route[]) {
  const made = testServices(
    [...routes, { path: "/api/devices", body: { items: [], next_cursor: null } }],
    { config: { wsUrl: "" } },
  );
  services = made.services;
  render(
    <MemoryRouter>
      <Alerts />
    </MemoryRouter>,
    { wrapper: made.wrapper },
  );
  return made;
}

const page = (items: unknown[]) => ({ items, next_cursor: null });

function event(overrides: Partial<EventOut> = {}): EventOut {
  return {
    event_id: "ev-1",
    rule_id: "rule-1",
    rule_name: "Rigs down",
    worker_id: "rig-1",
    kind: "offline",
    message: "rig-1 has been offline 6 minutes",
    value: 6,
    threshold: 5,
    ts: 1_700_000_000,
    delivery: "failed",
    attempts: 2,
    delivered_at: null,
    delivery_error: "discord: 404",
    deliveries: [
      { channel: "telegram", status: "delivered", attempts: 1, error: null, delivered_at: 1_700_000_001 },
      { channel: "discord", status: "failed", attempts: 1, error: "404", delivered_at: null },
    ],
    suppressed_reason: null,
    ...overrides,
  };
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  cleanup();
  services.dispose();
  services.queryClient.clear();
});

describe("Alerts page", () => {
  it("creates a rule that goes to Telegram, at most 5 an hour", async () => {
    const { calls } = setup([
      { path: "/api/alerts/rules", body: page([]) },
      { path: "/api/alerts/events", body: page([]) },
      {
        method: "POST",
        path: "/api/alerts/rules",
        handler: () => ({
          status: 201,
          body: { ...rule({ channels: { telegram: { chat_id: "-100123", bot_token_hint: "…BBBB" } }, max_per_hour: 5 }), webhook_secret: "whsec" },
        }),
      },
    ]);
    const form = await screen.findByTestId("new-rule");
    fireEvent.change(within(form).getByLabelText("Name"), { target: { value: "Rigs down" } });
    fireEvent.click(within(form).getByRole("checkbox", { name: "Telegram" }));
    const create = within(form).getByRole("button", { name: "Create rule" }) as HTMLButtonElement;
    expect(create.disabled).toBe(true); // no token yet
    fireEvent.change(within(form).getByLabelText("Bot token"), { target: { value: TOKEN } });
    fireEvent.change(within(form).getByLabelText("Chat id"), { target: { value: "-100123" } });
    fireEvent.change(within(form).getByLabelText("At most per hour (optional)"), { target: { value: "5" } });
    expect(create.disabled).toBe(false);
    fireEvent.click(create);

    await screen.findByRole("dialog", { name: "Rule created" });
    const post = calls.find((c) => c.method === "POST");
    expect(post?.body).toMatchObject({
      name: "Rigs down",
      kind: "offline",
      webhook_url: null,
      channels: { telegram: { bot_token: TOKEN, chat_id: "-100123" } },
      quiet_hours: null,
      max_per_hour: 5,
      action: null,
    });
  });

  it("creates a fan-failure rule that pauses the rig, at most twice a day", async () => {
    const { calls } = setup([
      { path: "/api/alerts/rules", body: page([]) },
      { path: "/api/alerts/events", body: page([]) },
      {
        method: "POST",
        path: "/api/alerts/rules",
        handler: () => ({ status: 201, body: { ...rule({ kind: "fan_failure", threshold: 0, action: "pause", max_actions_per_day: 2 }), webhook_secret: "whsec" } }),
      },
    ]);
    const form = await screen.findByTestId("new-rule");
    fireEvent.change(within(form).getByLabelText("Name"), { target: { value: "Fans" } });
    fireEvent.change(within(form).getByLabelText("When"), { target: { value: "fan_failure" } });
    expect((within(form).getByLabelText("Threshold (least score)") as HTMLInputElement).value).toBe("0");
    expect(within(form).queryByLabelText("Actions per rig a day")).toBeNull();
    fireEvent.change(within(form).getByLabelText("Also act on the rig"), { target: { value: "pause" } });
    fireEvent.change(within(form).getByLabelText("Actions per rig a day"), { target: { value: "11" } });
    expect((within(form).getByRole("button", { name: "Create rule" }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(within(form).getByLabelText("Actions per rig a day"), { target: { value: "2" } });
    fireEvent.click(within(form).getByRole("button", { name: "Create rule" }));
    await screen.findByRole("dialog", { name: "Rule created" });
    expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({ kind: "fan_failure", threshold: 0, action: "pause", max_actions_per_day: 2 });
  });

  it("shows a rule's channels by their hints and changes only what the owner changed", async () => {
    let stored: RuleOut = rule({
      channels: { telegram: { chat_id: "-100123", bot_token_hint: "…BBBB" }, discord: { webhook_url_hint: "…tttt" } },
      quiet_hours: { start_hour: 22, end_hour: 7, timezone: "UTC" },
    });
    const { calls } = setup([
      { path: "/api/alerts/rules", handler: () => ({ body: page([stored]) }) },
      { path: "/api/alerts/events", body: page([event()]) },
      {
        method: "PATCH",
        path: "/api/alerts/rules/rule-1",
        handler: () => {
          stored = { ...stored, channels: { telegram: stored.channels.telegram }, max_per_hour: 3 };
          return { body: stored };
        },
      },
    ]);
    const channels = await screen.findByTestId("rule-channels");
    expect(channels.textContent).toContain("Telegram -100123");
    expect(channels.textContent).toContain("Discord …tttt");
    expect(channels.textContent).toContain("quiet 22:00–07:00 UTC");

    fireEvent.click(screen.getByRole("button", { name: "Delivery of rule Rigs down" }));
    const dialog = await screen.findByTestId("edit-delivery");
    const token = within(dialog).getByLabelText("Bot token") as HTMLInputElement;
    expect(token.value).toBe("");
    expect(token.type).toBe("password");
    expect(dialog.textContent).toContain("Stored: …BBBB. Leave empty to keep it.");
    const save = within(dialog).getByRole("button", { name: "Save" }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);

    fireEvent.click(within(dialog).getByRole("checkbox", { name: "Discord" }));
    fireEvent.change(within(dialog).getByLabelText("At most per hour (optional)"), { target: { value: "3" } });
    fireEvent.click(save);

    await waitFor(() => expect(screen.queryByTestId("edit-delivery")).toBeNull());
    const patch = calls.find((c) => c.method === "PATCH");
    expect(patch?.body).toEqual({ channels: { discord: null }, max_per_hour: 3 });
    await waitFor(() => expect(screen.getByTestId("rule-channels").textContent).not.toContain("Discord"));
    expect(JSON.stringify(calls.map((c) => c.body))).not.toContain("BBBB");
  });

  it("shows each channel's delivery of an event, and why one was not sent", async () => {
    setup([
      { path: "/api/alerts/rules", body: page([rule()]) },
      {
        path: "/api/alerts/events",
        body: page([event(), event({ event_id: "ev-2", delivery: "suppressed", deliveries: [], delivery_error: null, attempts: 0, suppressed_reason: "quiet hours (22:00 to 07:00 UTC)" })]),
      },
    ]);
    const events = await screen.findByTestId("alert-events");
    await waitFor(() => expect(events.textContent).toContain("telegram delivered"));
    expect(events.textContent).toContain("discord failed");
    expect(events.textContent).toContain("not sent: quiet hours (22:00 to 07:00 UTC)");
    expect(screen.getByTestId("rule-channels").textContent).toContain("recorded here only");
  });

  it("changes a rule's automatic action, sending only what changed", async () => {
    let stored: RuleOut = rule();
    const { calls } = setup([
      { path: "/api/alerts/rules", handler: () => ({ body: page([stored]) }) },
      { path: "/api/alerts/events", body: page([]) },
      {
        method: "PATCH",
        path: "/api/alerts/rules/rule-1",
        handler: (_url, init) => {
          stored = { ...stored, ...(JSON.parse(String(init.body)) as Partial<RuleOut>) };
          return { body: stored };
        },
      },
    ]);
    await screen.findByTestId("alert-rule");
    fireEvent.click(screen.getByRole("button", { name: "Action of rule Rigs down" }));
    let dialog = await screen.findByTestId("edit-action");
    const save = () => within(screen.getByTestId("edit-action")).getByRole("button", { name: "Save" }) as HTMLButtonElement;
    expect((within(dialog).getByLabelText("Also act on the rig") as HTMLSelectElement).value).toBe("");
    expect(save().disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText("Also act on the rig"), { target: { value: "restart" } });
    fireEvent.change(within(dialog).getByLabelText("Actions per rig a day"), { target: { value: "0" } });
    expect(save().disabled).toBe(true);
    expect(dialog.textContent).toContain("1 to 10");
    fireEvent.change(within(dialog).getByLabelText("Actions per rig a day"), { target: { value: "5" } });
    fireEvent.click(save());
    await waitFor(() => expect(screen.queryByTestId("edit-action")).toBeNull());
    expect(calls.filter((c) => c.method === "PATCH").map((c) => c.body)).toEqual([{ action: "restart", max_actions_per_day: 5 }]);
    await waitFor(() => expect(screen.getByTestId("rule-channels").textContent).toContain("restart ≤ 5/day"));

    // Only the allowance changes.
    fireEvent.click(screen.getByRole("button", { name: "Action of rule Rigs down" }));
    dialog = await screen.findByTestId("edit-action");
    expect((within(dialog).getByLabelText("Actions per rig a day") as HTMLInputElement).value).toBe("5");
    fireEvent.change(within(dialog).getByLabelText("Actions per rig a day"), { target: { value: "2" } });
    fireEvent.click(save());
    await waitFor(() => expect(screen.queryByTestId("edit-action")).toBeNull());
    expect(calls.filter((c) => c.method === "PATCH")[1]?.body).toEqual({ max_actions_per_day: 2 });

    // No action: removed with null.
    fireEvent.click(screen.getByRole("button", { name: "Action of rule Rigs down" }));
    dialog = await screen.findByTestId("edit-action");
    fireEvent.change(within(dialog).getByLabelText("Also act on the rig"), { target: { value: "" } });
    expect(within(dialog).queryByLabelText("Actions per rig a day")).toBeNull();
    fireEvent.click(save());
    await waitFor(() => expect(screen.queryByTestId("edit-action")).toBeNull());
    expect(calls.filter((c) => c.method === "PATCH")[2]?.body).toEqual({ action: null });
    await waitFor(() => expect(screen.getByTestId("rule-channels").textContent).not.toContain("/day"));
  });

  it("shows what came of each event's automatic action", async () => {
    const quiet = { delivery: "none" as const, deliveries: [], delivery_error: null, attempts: 0 };
    setup([
      { path: "/api/alerts/rules", body: page([rule({ action: "pause", max_actions_per_day: 2 })]) },
      {
        path: "/api/alerts/events",
        body: page([
          event({ ...quiet, event_id: "ev-1", action: "pause", action_result: "sent" }),
          event({ ...quiet, event_id: "ev-2", action: "pause", action_result: "daily_limit" }),
          event({ ...quiet, event_id: "ev-3", action: "restart", action_result: "failed" }),
          event({ ...quiet, event_id: "ev-4" }),
        ]),
      },
    ]);
    const events = await screen.findByTestId("alert-events");
    await waitFor(() => expect(within(events).getAllByTestId("event-action")).toHaveLength(3));
    expect(within(events).getAllByTestId("event-action").map((a) => a.textContent)).toEqual([
      "pause: sent",
      "pause: not sent: daily limit reached",
      "restart: failed",
    ]);
    expect(screen.getByTestId("rule-channels").textContent).toContain("pause ≤ 2/day");
  });
});
