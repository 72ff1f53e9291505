import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { ConfigFailure } from "./components/ConfigFailure";
import { createServices } from "./app/services";
import { loadConfig } from "./config";
import "./index.css";

try {
  if (localStorage.getItem("xenblocks.theme") === "light") {
    document.documentElement.classList.replace("dark", "light");
  }
} catch {
  // storage unavailable: stay dark
}

const root = createRoot(document.getElementById("root")!);

loadConfig()
  .then((config) => {
    const services = createServices(config);
    services.live.start();
    root.render(
      <StrictMode>
        <App services={services} />
      </StrictMode>,
    );
  })
  .catch((error: unknown) => {
    root.render(<ConfigFailure message={error instanceof Error ? error.message : String(error)} />);
  });
