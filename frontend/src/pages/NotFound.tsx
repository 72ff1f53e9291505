import { Link } from "react-router";
import { EmptyState } from "../components/ui";

export function NotFound() {
  return (
    <EmptyState title="Page not found" icon="?" action={<Link className="text-accent hover:underline" to="/">Go to the overview</Link>}>
      There is nothing at this address.
    </EmptyState>
  );
}
