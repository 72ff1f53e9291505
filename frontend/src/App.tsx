import { QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense } from "react";
import { createBrowserRouter, RouterProvider } from "react-router";
import { ServicesContext } from "./app/context";
import type { Services } from "./app/services";
import { Layout } from "./components/Layout";
import { LoadingRows } from "./components/ui";
import { NotFound } from "./pages/NotFound";
import { ErrorPage } from "./pages/ErrorPage";

const Overview = lazy(() => import("./pages/Overview"));
const Monitoring = lazy(() => import("./pages/Monitoring"));
const Marketplace = lazy(() => import("./pages/Marketplace"));
const Provider = lazy(() => import("./pages/Provider"));
const Renter = lazy(() => import("./pages/Renter"));
const Account = lazy(() => import("./pages/Account"));
const Alerts = lazy(() => import("./pages/Alerts"));
const Insights = lazy(() => import("./pages/Insights"));
const WorkerDetail = lazy(() => import("./pages/WorkerDetail"));

function page(element: React.ReactNode) {
  return <Suspense fallback={<LoadingRows rows={6} label="Loading page" />}>{element}</Suspense>;
}

const router = createBrowserRouter([
  {
    element: <Layout />,
    errorElement: <ErrorPage />,
    children: [
      { index: true, element: page(<Overview />) },
      { path: "monitoring", element: page(<Monitoring />) },
      { path: "marketplace", element: page(<Marketplace />) },
      { path: "provider", element: page(<Provider />) },
      { path: "renter", element: page(<Renter />) },
      { path: "account", element: page(<Account />) },
      { path: "alerts", element: page(<Alerts />) },
      { path: "insights", element: page(<Insights />) },
      { path: "workers/:workerId", element: page(<WorkerDetail />) },
      { path: "*", element: <NotFound /> },
    ],
  },
]);

export function App({ services }: { services: Services }) {
  return (
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </ServicesContext.Provider>
  );
}
