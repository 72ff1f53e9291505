import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EmptyState, QueryView } from "./ui";

afterEach(cleanup);

function query(state: Partial<{ isPending: boolean; isError: boolean; data: unknown; error: unknown }>) {
  return { isPending: false, isError: false, data: undefined, error: null, refetch: vi.fn(), ...state };
}

describe("QueryView", () => {
  it("shows skeleton rows while the query loads", () => {
    render(
      <QueryView query={query({ isPending: true })} loadingLabel="Loading your fleet">
        content
      </QueryView>,
    );
    expect(screen.getByTestId("loading").textContent).toContain("Loading your fleet");
    expect(screen.queryByText("content")).toBeNull();
  });

  it("shows the error with a retry when there is no data to keep", () => {
    const failed = query({ isError: true, error: new Error("the API is down") });
    render(<QueryView query={failed}>content</QueryView>);
    expect(screen.getByRole("alert").textContent).toContain("the API is down");
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(failed.refetch).toHaveBeenCalledOnce();
  });

  it("keeps showing data that a failed refetch left in place", () => {
    render(<QueryView query={query({ isError: true, data: [1], error: new Error("stale") })}>content</QueryView>);
    expect(screen.getByText("content")).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows the empty state when there is nothing, else the content", () => {
    const { rerender } = render(
      <QueryView query={query({ data: [] })} empty={<EmptyState title="No rules yet" />}>
        content
      </QueryView>,
    );
    expect(screen.getByText("No rules yet")).toBeTruthy();
    expect(screen.queryByText("content")).toBeNull();
    rerender(
      <QueryView query={query({ data: [1] })} empty={false}>
        content
      </QueryView>,
    );
    expect(screen.getByText("content")).toBeTruthy();
  });

  it("pads the loading and error states in an unpadded card body", () => {
    render(
      <QueryView query={query({ isPending: true })} padded>
        content
      </QueryView>,
    );
    expect(screen.getByTestId("loading").parentElement?.className).toBe("p-4");
  });
});
