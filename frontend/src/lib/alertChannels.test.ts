import { describe, expect, it } from "vitest";
import { rule } from "../test/data";
import { createFields, draftErrors, draftOf, patchFields } from "./alertChannels";

const TOKEN = "123456:" + "A".repeat(35);
const DISCORD = "https://discord.com/api/webhooks/123456789012345678/" + "t".repeat(40);

const stored = rule({
  webhook_url: "https://hooks.example.com/x",
  channels: {
    telegram: { chat_id: "-100123", bot_token_hint: "…AAAA" },
    discord: { webhook_url_hint: "…tttt" },
    email: { address: "ops@example.com" },
  },
  quiet_hours: { start_hour: 22, end_hour: 7, timezone: "Europe/Berlin" },
  max_per_hour: 10,
});

describe("a rule's delivery draft", () => {
  it("a new rule sends each channel chosen, whole", () => {
    const draft = {
      ...draftOf(),
      telegram: true,
      telegramToken: TOKEN,
      telegramChat: "@ops_channel",
      email: true,
      emailAddress: " ops@example.com ",
      quiet: true,
      maxPerHour: "5",
    };
    expect(draftErrors(draft)).toEqual({});
    expect(createFields(draft)).toEqual({
      webhook_url: null,
      channels: { telegram: { bot_token: TOKEN, chat_id: "@ops_channel" }, email: { address: "ops@example.com" } },
      quiet_hours: { start_hour: 22, end_hour: 7, timezone: "UTC" },
      max_per_hour: 5,
    });
    expect(createFields(draftOf())).toEqual({ webhook_url: null, channels: null, quiet_hours: null, max_per_hour: null });
  });

  it("a new rule needs the secrets, in the API's forms", () => {
    const errors = draftErrors({ ...draftOf(), telegram: true, telegramChat: "x", discord: true, discordUrl: "https://example.com", quiet: true, quietEnd: "22", maxPerHour: "0" });
    expect(Object.keys(errors).sort()).toEqual(["discordUrl", "maxPerHour", "quietEnd", "telegramChat", "telegramToken"]);
  });

  it("unchanged, a stored rule sends nothing: empty secret fields keep the stored secrets", () => {
    const draft = draftOf(stored);
    expect(draft.telegramToken).toBe("");
    expect(draft.discordUrl).toBe("");
    expect(draftErrors(draft, stored)).toEqual({});
    expect(patchFields(draft, stored)).toEqual({});
  });

  it("names only the channels that change; off removes one (null)", () => {
    const draft = { ...draftOf(stored), discord: false, discordUrl: "", email: true, emailAddress: "night@example.com", quiet: false, maxPerHour: "", webhook: "" };
    expect(patchFields(draft, stored)).toEqual({
      webhook_url: null,
      channels: { discord: null, email: { address: "night@example.com" } },
      quiet_hours: null,
      max_per_hour: null,
    });
  });

  it("a new secret replaces the stored one; a new chat needs the token again", () => {
    const moved = { ...draftOf(stored), telegramChat: "-100999" };
    expect(draftErrors(moved, stored).telegramToken).toContain("Enter the bot token again");
    const withToken = { ...moved, telegramToken: TOKEN, discordUrl: DISCORD };
    expect(draftErrors(withToken, stored)).toEqual({});
    expect(patchFields(withToken, stored)).toEqual({
      channels: { telegram: { bot_token: TOKEN, chat_id: "-100999" }, discord: { webhook_url: DISCORD } },
    });
  });

  it("changed quiet hours are sent whole", () => {
    const draft = { ...draftOf(stored), quietStart: "23" };
    expect(patchFields(draft, stored)).toEqual({ quiet_hours: { start_hour: 23, end_hour: 7, timezone: "Europe/Berlin" } });
  });
});
