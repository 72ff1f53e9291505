export function ConfigFailure({ message }: { message: string }) {
  return (
    <main className="flex min-h-dvh items-center justify-center p-6">
      <div role="alert" className="max-w-md rounded-card border border-danger/40 bg-surface p-6 text-center">
        <h1 className="text-lg font-semibold">The dashboard could not start</h1>
        <p className="mt-2 text-sm text-muted">{message}</p>
        <button
          type="button"
          className="mt-4 rounded-lg border border-border px-3 py-2 text-sm hover:border-muted"
          onClick={() => window.location.reload()}
        >
          Reload
        </button>
      </div>
    </main>
  );
}
