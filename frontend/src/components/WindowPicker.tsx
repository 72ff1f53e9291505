import { cx } from "../lib/cx";

const WINDOWS = [
  { label: "1 h", seconds: 3600 },
  { label: "6 h", seconds: 6 * 3600 },
  { label: "24 h", seconds: 86_400 },
  { label: "7 d", seconds: 7 * 86_400 },
];

export function WindowPicker({ value, onChange }: { value: number; onChange: (seconds: number) => void }) {
  return (
    <div role="group" aria-label="Time window" className="flex rounded-lg border border-border p-0.5">
      {WINDOWS.map((w) => (
        <button
          key={w.seconds}
          type="button"
          aria-pressed={value === w.seconds}
          onClick={() => onChange(w.seconds)}
          className={cx(
            "rounded-md px-2 py-0.5 text-xs",
            value === w.seconds ? "bg-surface-2 font-medium text-text" : "text-muted hover:text-text",
          )}
        >
          {w.label}
        </button>
      ))}
    </div>
  );
}

