import { isRouteErrorResponse, Link, useRouteError } from "react-router";

export function ErrorPage() {
  const error = useRouteError();
  const message = isRouteErrorResponse(error)
    ? `${error.status} ${error.statusText}`
    : error instanceof Error
      ? error.message
      : "Something went wrong.";
  return (
    <main className="flex min-h-dvh items-center justify-center p-6">
      <div role="alert" className="max-w-md rounded-card border border-danger/40 bg-surface p-6 text-center">
        <h1 className="text-lg font-semibold">Something went wrong</h1>
        <p className="mt-2 break-words text-sm text-muted">{message}</p>
        <Link to="/" className="mt-4 inline-block text-sm text-accent hover:underline" reloadDocument>
          Back to the overview
        </Link>
      </div>
    </main>
  );
}
