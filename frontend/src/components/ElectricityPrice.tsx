/** The owner's electricity price: what a kWh costs, behind the power cost and net profit. */
import { useId, useState, type FormEvent } from "react";
import { Link } from "react-router";
import type { SettingsOut } from "../api/types";
import { useSaveSettings, useSettings } from "../api/insights";
import { errorMessage } from "../api/client";
import { useServices } from "../app/context";
import { Button, Card, Field, Input, QueryView, Time } from "./ui";

const MAX_PRICE = 10;

/** Why `text` is not a price the API takes (0 to 10, at most 6 decimals), or null. */
function priceError(text: string): string | null {
  const value = text.trim();
  if (value === "") return null;
  if (!/^\d+(\.\d{1,6})?$/.test(value)) return "A decimal number such as 0.25, at most 6 decimals.";
  if (Number(value) > MAX_PRICE) return `At most ${MAX_PRICE} a kWh.`;
  return null;
}

function currencyError(text: string): string | null {
  return /^[A-Z]{3}$/.test(text.trim()) ? null : "Three capital letters, such as USD or EUR.";
}

export function ElectricityPriceCard() {
  const settings = useSettings();
  const stored = settings.data;
  return (
    <Card title="Electricity price" testId="electricity-price">
      <QueryView query={settings} rows={2}>
        {/* A fresh form from what is stored, again after each save. */}
        {stored && <PriceForm key={`${stored.updated_at ?? "never"}:${stored.electricity_price_per_kwh}`} stored={stored} />}
        <p className="mt-3 text-xs text-muted">
          Power cost is each rig's measured energy at this price; net profit counts one credit for one unit of it. See it on the{" "}
          <Link to="/insights" className="text-accent hover:underline">
            Insights page
          </Link>
          .{stored?.updated_at != null && <> Saved <Time ts={stored.updated_at} />.</>}
        </p>
      </QueryView>
    </Card>
  );
}

function PriceForm({ stored }: { stored: SettingsOut }) {
  const save = useSaveSettings();
  const { toasts } = useServices();
  const ids = { price: useId(), currency: useId() };
  const [price, setPrice] = useState(stored.electricity_price_per_kwh ?? "");
  const [currency, setCurrency] = useState(stored.currency);

  const priceProblem = priceError(price);
  const currencyProblem = currencyError(currency);
  const apiProblem = save.isError ? errorMessage(save.error) : null;
  const unchanged = (stored.electricity_price_per_kwh ?? "") === price.trim() && stored.currency === currency.trim();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (priceProblem || currencyProblem) return;
    const text = price.trim();
    save.mutate(
      { electricity_price_per_kwh: text === "" ? null : text, currency: currency.trim() },
      {
        onSuccess: (saved) =>
          toasts.success(
            "Electricity price saved",
            saved.electricity_price_per_kwh ? `${saved.electricity_price_per_kwh} ${saved.currency} a kWh.` : "No price: power costs are not counted.",
          ),
      },
    );
  };

  return (
    <form onSubmit={submit} className="grid items-start gap-3 sm:grid-cols-[1fr_8rem_auto]" noValidate data-testid="price-form">
      <Field label="Price per kWh" htmlFor={ids.price} error={priceProblem ?? apiProblem} hint="What a kWh costs you, 0 to 10. Leave it empty to count no power cost.">
        <Input
          id={ids.price}
          inputMode="decimal"
          placeholder="e.g. 0.15"
          value={price}
          onChange={(e) => {
            setPrice(e.target.value);
            save.reset();
          }}
          aria-invalid={priceProblem != null || apiProblem != null}
        />
      </Field>
      <Field label="Currency" htmlFor={ids.currency} error={currencyProblem}>
        <Input id={ids.currency} maxLength={3} value={currency} onChange={(e) => setCurrency(e.target.value.toUpperCase())} aria-invalid={currencyProblem != null} />
      </Field>
      <div className="sm:pt-5">
        <Button type="submit" variant="primary" busy={save.isPending} disabled={priceProblem != null || currencyProblem != null || unchanged}>
          Save
        </Button>
      </div>
    </form>
  );
}
